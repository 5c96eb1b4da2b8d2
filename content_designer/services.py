"""What the admin API works with, built once per process from the environment.

:func:`open_services` wires the knowledge base, the settings repository, the job queue and the
feedback log from :mod:`knowledge.backends`; the local server adds the chat. Tests build a
:class:`DesignerServices` from their own parts.

Example:
    >>> services = open_services(Path(".qnabot"), chat=True)  # doctest: +SKIP
    >>> services.kb.store.count()  # doctest: +SKIP
    22
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from content_designer.analytics import MetricsReader
from content_designer.chat import ChatService, Fulfill
from content_designer.feedback import FeedbackLog, FileFeedbackLog
from content_designer.jobs import JobQueue, JobSpec, LocalJobQueue, Tracker, run_job
from fulfillment.metrics_sqlite import SqliteMetricsSink
from knowledge.backends import load_settings, open_knowledge_base, open_settings_repo
from knowledge.home import qnabot_home
from knowledge.knowledge_base import KnowledgeBase
from knowledge.settings import Settings, SettingsRepo

#: Decides whether an API Gateway event may use the admin routes.
Authorizer = Callable[[Mapping[str, Any]], bool]


def cognito_authorizer(event: Mapping[str, Any]) -> bool:
    """True when API Gateway's Cognito authorizer let the request in (it adds the claims).

    The authorizer runs before the Lambda; checking its claims here as well means a route
    deployed without it is refused rather than open.
    """
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    return bool(authorizer.get("claims") or authorizer.get("principalId"))


@dataclass
class DesignerServices:
    """The ports behind the admin API."""

    kb: KnowledgeBase
    settings_repo: SettingsRepo
    jobs: JobQueue
    feedback: FeedbackLog
    authorize: Authorizer = cognito_authorizer
    chat: ChatService | None = None
    environment: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    #: Where the analytics page reads the per-turn records (None: not available here).
    metrics: MetricsReader | None = None
    #: What ``config.js`` gives the pages (C1); None means the local defaults.
    pages: dict[str, Any] | None = None
    #: True when ``POST chat/stream`` is served (set by whoever serves it).
    streaming: bool = False

    def page_config(self, routes: set[str] = frozenset()) -> dict[str, Any]:
        """``window.QNABOT_CONFIG`` for the pages: ``routes`` are the app's "METHOD /path"s."""
        if self.pages is not None:
            return self.pages
        stream = getattr(self.chat, "stream", None)
        return {"auth": "token", "transport": "local",
                "streaming": bool(self.streaming or "POST /chat/stream" in routes
                                  or callable(stream))}

    def settings(self) -> Settings:
        """The settings as they are now (read on every call: changes apply without restart)."""
        return load_settings(self.settings_repo)


def job_runner(kb: KnowledgeBase, settings_repo: SettingsRepo):
    """The function a job queue calls to run a job with the settings current at its start."""
    def run(spec: JobSpec, tracker: Tracker, output_dir: Path) -> None:
        run_job(spec, tracker, kb, load_settings(settings_repo), output_dir)
    return run


def default_fulfill() -> Fulfill:
    """The fulfillment Lambda handler, imported when the chat is first used."""
    from fulfillment.handler import lambda_handler

    return lambda_handler


def open_services(home: Path | None = None, *, chat: bool = False,
                  authorize: Authorizer = cognito_authorizer) -> DesignerServices:
    """The services over the configured backends, with the data folder ``home``."""
    home = home or qnabot_home()
    kb = open_knowledge_base(home)
    repo = open_settings_repo(home)
    chat_service = None
    if chat:
        fulfill: Fulfill | None = None

        def lazy_fulfill(event: dict[str, Any], context: Any) -> dict[str, Any]:
            nonlocal fulfill
            fulfill = fulfill or default_fulfill()
            return fulfill(event, context)

        chat_service = ChatService(lazy_fulfill)
    return DesignerServices(
        kb=kb,
        settings_repo=repo,
        jobs=LocalJobQueue(home, job_runner(kb, repo)),
        feedback=FileFeedbackLog(home / "feedback.jsonl"),
        authorize=authorize,
        chat=chat_service,
        environment={"home": str(home)},
        metrics=SqliteMetricsSink(home / "metrics.sqlite"),
    )
