"""AWS Lambda entry point of the content designer's admin API and pages.

:func:`lambda_handler` resolves API Gateway (REST, proxy integration) events with the one app
of :mod:`content_designer.api`. API Gateway's Cognito authorizer guards the admin routes and
the app checks its claims again. Jobs go to the stack's import/export bucket
(:class:`content_designer.jobs_s3.S3JobQueue`), where the import/export Lambda runs them;
feedback is kept in the same bucket (:class:`content_designer.feedback_s3.S3FeedbackLog`).
The analytics page reads the turn and feedback records with Athena
(:class:`content_designer.analytics_athena.AthenaMetricsReader`).

Only members of the user pool's ``Admins`` group may use the admin routes
(:func:`content_designer.aws_web.admins_only`). ``GET config.js`` answers from the stack's web
configuration (SSM parameter ``WEB_CONFIG_PARAMETER``) before the app, so the pages use Cognito
sign-in and the Lex transport here; the chat page and the Connect contact-flow download come
from :mod:`content_designer.aws_web`, and page responses get a CSP that lets them reach
Cognito and Lex.

Environment: :mod:`knowledge.backends`'s variables, plus ``IMPORT_EXPORT_BUCKET``,
``WEB_CONFIG_PARAMETER``, ``METRICS_ATHENA_DATABASE`` / ``METRICS_ATHENA_WORKGROUP`` (without
the database the analytics route answers 404) and ``CLASSIFIER_TRAINING_FUNCTION`` (the
import/export function, which trains the classifier after an edit of a big knowledge base).
Everything is built once per container, on the first request.

Example:
    >>> lambda_handler(api_gateway_event, lambda_context)["statusCode"]  # doctest: +SKIP
    200
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from content_designer import aws_web
from content_designer.analytics_athena import AthenaConfig, AthenaMetricsReader
from content_designer.api import ADMIN, create_app
from content_designer.feedback_s3 import S3FeedbackLog
from content_designer.services import DesignerServices
from knowledge.backends import ConfigurationError, open_knowledge_base, open_settings_repo

logger = Logger(service="qnabot-designer")

#: Lambda's only writable folder: the embedding cache lives here between invocations.
LAMBDA_HOME = Path("/tmp/qnabot")


@cache
def services() -> DesignerServices:
    """The services of this container (the OpenSearch knowledge base, in AWS)."""
    from content_designer.jobs_s3 import InvokeClassifierTraining, S3JobQueue

    bucket = os.environ.get("IMPORT_EXPORT_BUCKET", "").strip()
    if not bucket:
        raise ConfigurationError("set IMPORT_EXPORT_BUCKET to the stack's import/export bucket")
    LAMBDA_HOME.mkdir(parents=True, exist_ok=True)
    trainer = os.environ.get("CLASSIFIER_TRAINING_FUNCTION", "").strip()
    # After an edit of a big knowledge base the import/export function trains (this process
    # is frozen once it has answered); without it, a thread here (a local run of the handler).
    kb = open_knowledge_base(LAMBDA_HOME, retrain_large=(
        InvokeClassifierTraining(trainer) if trainer else None))
    repo = open_settings_repo(LAMBDA_HOME)
    athena = AthenaConfig.from_env()
    return DesignerServices(kb=kb, settings_repo=repo, jobs=S3JobQueue(bucket),
                            feedback=S3FeedbackLog(bucket), authorize=aws_web.admins_only,
                            environment={"import_export_bucket": bucket},
                            metrics=AthenaMetricsReader.from_config(athena) if athena else None)


@cache
def web_config() -> dict[str, str]:
    """The stack's web configuration (read once per container)."""
    return aws_web.read_web_config()


def _web_config_or_none() -> dict[str, str] | None:
    try:
        return web_config()
    except aws_web.WebConfigError as exc:
        logger.warning("no web configuration: %s", exc)
        return None


@cache
def app() -> APIGatewayRestResolver:
    """The admin API of this container."""
    resolver = create_app(services())
    aws_web.register_routes(resolver, web_config, ADMIN)
    return resolver


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway -> the admin API and the pages."""
    if event.get("httpMethod") == "GET" and event.get("path") == "/config.js":
        try:
            return aws_web.config_response(web_config())
        except aws_web.WebConfigError as exc:
            return aws_web.config_response(None, str(exc))
    response = app().resolve(event, context)
    if "Content-Security-Policy" in (response.get("headers") or {}) or \
            "Content-Security-Policy" in (response.get("multiValueHeaders") or {}):
        response = aws_web.with_page_headers(response, _web_config_or_none())
    return response
