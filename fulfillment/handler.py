"""The fulfillment Lambda: Amazon Lex V2 code hook -> the turn pipeline -> Lex V2 response.

``lambda_handler(event, context)`` is the entry point for Lex (``FulfillmentCodeHook`` and
``DialogCodeHook``), the CLI (``qnabot ask``/``chat``) and the content designer's chat. It is
thin: parse the event, run :class:`~fulfillment.pipeline.TurnPipeline`, build the response,
log one structured record. A ``DialogCodeHook`` call (Lex eliciting a QID intent's slots) is
not a turn: :class:`~fulfillment.qid_slots.SlotDialog` fills the cached slots and Lex is told
to go on. It never raises: a malformed event or a broken backend gets the ``ERRORMESSAGE``
answer and a log line.

The knowledge base, LLM and users table are built once per process, on the first turn (so
importing this module stays cheap: boto3, tiktoken and the embedding model load lazily).
Settings are read again on every turn, so a change applies from the next turn.

Environment (besides :mod:`knowledge.backends`'s): ``LLM_API`` and ``LLM_LAMBDA_ARN``
(:func:`fulfillment.llm.open_llm`), ``USERS_TABLE`` (DynamoDB users table; else
``users.sqlite`` in ``QNABOT_HOME``).

Example:
    >>> from fulfillment.lex_event import make_event
    >>> lambda_handler(make_event("What is an Amazon Echo Show"), None)["messages"][0]
    ... # doctest: +SKIP
    {'contentType': 'PlainText', 'content': 'Echo Show brings you everything ...'}
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from fulfillment.connect import apply_connect_settings
from fulfillment.lex_event import MalformedEventError, parse_event
from fulfillment.lex_response import build_dialog_response, build_response
from fulfillment.metrics import record_turn_metrics, redactor
from fulfillment.model import Answer, Request, TurnDebug, TurnResult
from fulfillment.qid_slots import SlotDialog, is_dialog_hook
from knowledge.settings import Settings

logger = Logger(service="qnabot-fulfillment")


@dataclass
class Outcome:
    """The Lex response of a turn and, when the turn ran, its typed result (for the CLI)."""

    response: dict[str, Any]
    turn: TurnResult | None = None


class FulfillmentService:
    """The pipeline and the settings repository of this process."""

    def __init__(self, pipeline: Any, settings_repo: Any):
        self.pipeline = pipeline
        self.settings_repo = settings_repo

    @classmethod
    def from_environment(cls) -> FulfillmentService:
        """Build every adapter the environment asks for (see :mod:`knowledge.backends`)."""
        from fulfillment.guardrails import GuardSelector
        from fulfillment.hooks import LambdaHookInvoker
        from fulfillment.kendra import KendraRetriever
        from fulfillment.knowledge_base_retrieval import BedrockKnowledgeBaseRetriever
        from fulfillment.llm import open_llm
        from fulfillment.memory import Memory, open_user_store
        from fulfillment.multilanguage import open_languages
        from fulfillment.pii import ComprehendPiiDetector
        from fulfillment.pipeline import Services, TurnPipeline
        from fulfillment.s3_urls import S3UrlSigner
        from knowledge.backends import open_knowledge_base, open_settings_repo
        from knowledge.home import qnabot_home

        home = qnabot_home()
        llm = open_llm()
        services = Services(
            kb=open_knowledge_base(home),
            llm=llm,
            memory=Memory(open_user_store(home)),
            retrievers={"kendra": KendraRetriever(),
                        "knowledge_base": BedrockKnowledgeBaseRetriever()},
            hooks=LambdaHookInvoker(),
            pii=ComprehendPiiDetector(),
            guard=GuardSelector(home / "guardrails"),
            languages=open_languages(llm),
            url_signer=S3UrlSigner(),
        )
        return cls(TurnPipeline(services), open_settings_repo(home))

    def settings(self) -> Settings:
        """This turn's settings; the defaults (and a log line) if they cannot be read."""
        from knowledge.backends import load_settings

        try:
            return load_settings(self.settings_repo)
        except Exception as exc:  # noqa: BLE001 - answer with defaults rather than not at all
            logger.error("cannot read settings, using the defaults", extra={"error": str(exc)})
            return Settings.defaults()


_service: FulfillmentService | None = None
_cold_start = True
_service_lock = threading.Lock()


def get_service() -> FulfillmentService:
    """The process's service, built on first use."""
    global _service
    with _service_lock:
        if _service is None:
            _service = FulfillmentService.from_environment()
        return _service


def set_service(service: FulfillmentService | None) -> None:
    """Use ``service`` for the following turns (tests, the local server); None rebuilds."""
    global _service
    with _service_lock:
        _service = service


def _error_outcome(event: Any, reason: str, settings: Settings | None = None) -> Outcome:
    settings = settings or Settings.defaults()
    session_id = event.get("sessionId") if isinstance(event, Mapping) else None
    request = Request(session_id=session_id if isinstance(session_id, str) else "unknown",
                      transcript="")
    answer = Answer(text=settings.get("ERRORMESSAGE"), source="error")
    from fulfillment.render import finish

    turn = TurnResult(request, finish(answer), TurnDebug(degraded=[reason]))
    return Outcome(build_response(turn), turn)


def _time_left(context: Any) -> float | None:
    """Seconds the Lambda has left, from its context (None without one)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    try:
        return remaining() / 1000 if callable(remaining) else None
    except Exception:  # noqa: BLE001 - a context that cannot tell is no limit
        return None


def _partial_listener(context: Any, request: Request, settings: Settings) -> Any:
    """Who gets a generated answer's text as it is written: the local server's listener,
    carried on its context; in AWS, the session's WebSocket connection when the stack deploys
    the streaming API (:mod:`fulfillment.streaming_ws`), looked up only once text flows."""
    listener = getattr(context, "on_partial", None)
    if callable(listener):
        return listener
    streamer = _streamer()
    if streamer is None or request.channel == "voice" or \
            not settings.get("LLM_STREAMING_ENABLED"):
        return None
    found: dict[str, Any] = {}

    def send(so_far: str) -> None:
        if "send" not in found:
            found["send"] = streamer.listener_for(request.session_id)
        if found["send"] is not None:
            found["send"](so_far)
    return send


_streamers: dict[str, Any] = {}


def _streamer() -> Any:
    """The process's WebSocket streamer, or None where none is deployed."""
    if "streamer" not in _streamers:
        from fulfillment.streaming_ws import WebSocketStreamer

        _streamers["streamer"] = WebSocketStreamer.from_environment()
    return _streamers["streamer"]


def handle_event(event: Any, context: Any = None) -> Outcome:
    """Answer one Lex V2 event; the Lex response plus the typed turn result.

    ``context`` is the Lambda context: its remaining time bounds the turn's LLM calls. A local
    context may carry ``on_partial`` (the chat page's streaming, see
    :mod:`content_designer.streaming`): it gets a generated answer's text as it is written.
    """
    try:
        request = parse_event(event)
    except MalformedEventError as exc:
        logger.warning("malformed Lex event", extra={"error": str(exc)})
        try:  # the admin's ERRORMESSAGE, when the settings can be read
            settings = get_service().settings()
        except Exception:  # noqa: BLE001 - the defaults will do
            settings = None
        return _error_outcome(event, f"malformed event: {exc}", settings)
    try:
        service = get_service()
    except Exception as exc:  # noqa: BLE001 - a misconfigured backend still answers
        logger.exception("cannot build the fulfillment service")
        return _error_outcome(event, f"backend unavailable: {exc}")
    if is_dialog_hook(request):
        return Outcome(_dialog_response(request, service))
    settings = service.settings()
    turn = service.pipeline.run(request, settings, time_left=_time_left(context),
                                on_partial=_partial_listener(context, request, settings))
    response = apply_connect_settings(build_response(turn), request, settings)
    log_turn(turn, settings)
    record_turn_metrics(turn, settings)
    return Outcome(response, turn)


def _dialog_response(request: Request, service: FulfillmentService) -> dict[str, Any]:
    """Lex's next step while it elicits a QID intent's slots; never an answer. When the item
    cannot be read, Lex goes on as it proposed (the slots are then elicited again)."""
    try:
        fill = SlotDialog(service.pipeline.services.kb.store).fill(request)
    except Exception as exc:  # noqa: BLE001 - Lex can still elicit the slots itself
        logger.warning("cannot read the item of a QID intent, delegating",
                       extra={"intent": request.intent_name, "error": str(exc)})
        fill = None
    response = build_dialog_response(request, fill)
    state = response["sessionState"]
    logger.info("dialog", extra={"dialog": {
        "session_id": request.session_id, "intent": request.intent_name,
        "action": state["dialogAction"]["type"],
        "slot_to_elicit": state["dialogAction"].get("slotToElicit", ""),
        "cached_slots": sorted(fill.cache) if fill else []}})
    return response


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """AWS Lambda entry point for Lex V2 code hooks. Never raises."""
    global _cold_start
    request_id = getattr(context, "aws_request_id", None)
    logger.append_keys(request_id=request_id, cold_start=_cold_start)
    _cold_start = False
    try:
        return handle_event(event, context).response
    except Exception as exc:  # noqa: BLE001 - last resort: Lex must get an answer
        logger.exception("unexpected failure in the fulfillment handler")
        return _error_outcome(event, f"unexpected failure: {exc}").response


def log_turn(turn: TurnResult, settings: Settings) -> None:
    """One structured record per turn: what was answered, how, and how long it took.

    User text is redacted per ``ENABLE_REDACTING``; settings, session attributes and answers
    are not logged.
    """
    redact = redactor(settings)
    debug, answer = turn.debug, turn.answer
    user_text = redact
    if debug.pii_rejected:  # the question itself is personal information: log none of it
        user_text = lambda text: "[withheld: PII]" if text else text  # noqa: E731
    logger.info("turn", extra={
        "turn": {
            "session_id": turn.request.session_id,
            "channel": turn.request.channel,
            "input_mode": turn.request.input_mode,
            "question": user_text(turn.request.transcript),
            "search_string": user_text(debug.search_string),
            "generated_query": user_text(debug.generated_query),
            "rewrite_skipped": debug.rewrite_skipped,
            "context_question": user_text(debug.context_question),
            "qid": answer.qid,
            "source": answer.source,
            "got_hits": answer.got_hits,
            "generated": answer.generated,
            "score": answer.score,
            "scores": debug.scores,
            "topic": turn.topic,
            "timings_ms": {k: round(v, 2) for k, v in debug.timings_ms.items()},
            "llm_calls": len(debug.llm_calls),
            "llm_input_tokens": sum(c.input_tokens for c in debug.llm_calls),
            "llm_output_tokens": sum(c.output_tokens for c in debug.llm_calls),
            "llm": [c.to_json() for c in debug.llm_calls],
            "hook": debug.hook,
            "dialog": debug.dialog,
            "chained": list(debug.chained),
            "pii_rejected": debug.pii_rejected,
            "degraded": [redact(d) for d in debug.degraded],
        },
    })


def warm_up() -> float:
    """Build the service, start a local LLM's server and run one search, so the first real
    turn is fast; seconds taken."""
    started = time.perf_counter()
    service = get_service()
    start_llm = getattr(service.pipeline.services.llm, "start", None)
    if callable(start_llm):
        try:
            start_llm(service.settings())
        except Exception as exc:  # noqa: BLE001 - the bot still answers without the LLM
            logger.warning("the LLM could not start; answering without it",
                           extra={"error": str(exc)})
    service.pipeline.services.kb.search("hello", service.settings())
    return time.perf_counter() - started
