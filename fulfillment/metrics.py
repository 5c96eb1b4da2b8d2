"""Per-turn and feedback metrics records: what users asked, what they got, what they thought.

QnABot streams one record per turn (and one per thumbs up/down) to Kinesis Firehose for its
Kibana dashboards. Here the records are built by :func:`turn_record` and
:func:`feedback_record` with QnABot's field names (``qid``, ``utterance``, ``answer``,
``topic``, ``clientType``, ``tags``, ``answerSource``, ``datetime`` ...) and go to a
:class:`MetricsSink` port:

* :class:`~fulfillment.metrics_sqlite.SqliteMetricsSink`: ``$QNABOT_HOME/metrics.sqlite``,
  read by the designer's analytics page (the default outside Lambda);
* :class:`~fulfillment.metrics_firehose.FirehoseMetricsSink`: Amazon Data Firehose to S3, in
  AWS (``METRICS_FIREHOSE_STREAM``);
* :class:`NullMetricsSink`: nothing kept (``QNABOT_METRICS=none``, or Lambda without a stream).

A turn the chat page sends on its own when it opens (to get the greeting item) carries the
request attribute :data:`WELCOME_ATTRIBUTE` (Lex V2 ``requestAttributes``, set per request, so
the same mark reaches the handler locally and through Lex); its record says ``welcome: true``
and the analytics count it as a chat opened, not as a question.

Feedback has one writer: :func:`record_turn_metrics`, at most one feedback record per turn,
whether the turn is a thumbs utterance or QnABot's feedback hook judged the previous answer
(the hook only marks the turn: ``TurnDebug.feedback``).

User text is redacted with ``REDACTING_REGEX`` when ``ENABLE_REDACTING`` is on, and withheld
entirely when the question was rejected as personal information. Recording never breaks a
turn: :func:`record_turn_metrics` logs and carries on.

Example:
    >>> sink = NullMetricsSink()
    >>> sink.record_turn({"qid": "Alexa.001"})  # kept nowhere
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from fulfillment.model import TurnResult
from knowledge.settings import Settings

logger = logging.getLogger(__name__)

#: QnABot's feedback utterances (the Lex Web UI's default thumbs phrases), folded.
FEEDBACK_PHRASES = {"thumbs up": "thumbs_up", "thumbs down": "thumbs_down"}
#: The request attribute the chat page sets (to "true") on its welcome turn only.
WELCOME_ATTRIBUTE = "qnabot_welcome"


class MetricsSink(Protocol):
    """Port: where per-turn and feedback records go."""

    def record_turn(self, record: dict[str, Any]) -> None:
        """Keep one turn's record (see :func:`turn_record`)."""
        ...

    def record_feedback(self, record: dict[str, Any]) -> None:
        """Keep one feedback record (see :func:`feedback_record`)."""
        ...


class Records(list[dict[str, Any]]):
    """Records a reader read back (the designer's
    :class:`~content_designer.analytics.MetricsReader`), oldest first.

    ``truncated`` is True when the window held more records than one read returns: the newest
    are kept, so the figures leave the oldest out.

    >>> Records([{"qid": "A.1"}], truncated=True).truncated
    True
    """

    def __init__(self, records: Iterable[dict[str, Any]] = (), *, truncated: bool = False):
        super().__init__(records)
        self.truncated = truncated


class NullMetricsSink:
    """Keeps nothing."""

    def record_turn(self, record: dict[str, Any]) -> None:
        """Drop the record."""

    def record_feedback(self, record: dict[str, Any]) -> None:
        """Drop the record."""


def now_iso() -> str:
    """The current UTC time as QnABot writes ``datetime``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def redactor(settings: Settings) -> Callable[[str], str]:
    """A function hiding what ``REDACTING_REGEX`` matches, when ``ENABLE_REDACTING`` is on.

    The pattern runs with a time limit; text it could not finish redacting is withheld whole
    (fail closed: never log what could not be redacted).
    """
    from knowledge.bounded_regex import RegexTimeoutError

    if not settings.get("ENABLE_REDACTING"):
        return lambda text: text
    pattern = settings.get("REDACTING_REGEX")
    if pattern is None:
        return lambda text: text

    def redact(text: str) -> str:
        try:
            return pattern.sub("XXXXXX", text)
        except RegexTimeoutError:
            return "[withheld: REDACTING_REGEX ran past its time limit]" if text else text
    return redact


def _client_type(turn: TurnResult) -> str:
    """QnABot's ``clientType``: LEX.<channel>.<mode>, e.g. ``LEX.Text`` or ``LEX.Voice``."""
    named = (turn.request.session_attributes or {}).get("clientType")
    if isinstance(named, str) and named:
        return named
    return "LEX.Voice" if turn.request.channel == "voice" else "LEX.Text"


def is_welcome(turn: TurnResult) -> bool:
    """True for the chat page's welcome turn (it sets :data:`WELCOME_ATTRIBUTE`), not a
    question somebody asked."""
    return str(turn.request.request_attributes.get(WELCOME_ATTRIBUTE, "")).lower() == "true"


def turn_record(turn: TurnResult, settings: Settings) -> dict[str, Any]:
    """The metrics record of one turn, under QnABot's field names.

    ``got_hits`` is 1 when the knowledge base (or a retriever) answered, 0 for no_hits;
    ``welcome`` is true for the chat page's welcome turn (see :func:`is_welcome`);
    ``feedback`` is the turn's verdict on the previous answer when it gave one (see
    :func:`feedback_verdict`: "Thumbs up", or "Good answer" judged by QnABot's feedback hook),
    else "": such a turn is no question; ``suggested`` the comma-separated qids offered as
    "did you mean" buttons when nothing answered (see :mod:`knowledge.suggestions`).
    """
    redact = redactor(settings)
    withheld = turn.debug.pii_rejected
    answer = turn.answer
    utterance = "[withheld: PII]" if withheld else redact(turn.request.transcript)
    llm_ms = sum(call.ms for call in turn.debug.llm_calls)
    return {
        "datetime": now_iso(),
        "sessionId": turn.request.session_id,
        "utterance": utterance,
        "answer": "" if withheld else redact(answer.text),
        "qid": answer.qid or "",
        "topic": turn.topic or answer.topic or "",
        "clientType": _client_type(turn),
        "channel": turn.request.channel,
        "locale": turn.request.locale,
        "tags": [],
        "answerSource": answer.source,
        "got_hits": 1 if answer.got_hits else 0,
        "score": answer.score,
        "generated": answer.generated,
        "llm_calls": len(turn.debug.llm_calls),
        "llm_ms": round(llm_ms, 1),
        "latency_ms": round(turn.debug.timings_ms.get("total", 0.0), 1),
        "welcome": is_welcome(turn),
        "feedback": feedback_verdict(turn) or "",
        "suggested": ",".join(turn.debug.suggestions),
    }


def feedback_verdict(turn: TurnResult) -> str | None:
    """``thumbs_up`` / ``thumbs_down`` when the turn gave feedback, else None: QnABot's
    feedback hook judged the previous answer, or the turn is a thumbs utterance (C4)."""
    if turn.debug.feedback:
        return turn.debug.feedback
    return FEEDBACK_PHRASES.get(" ".join(turn.request.transcript.lower().split()).strip(".!"))


def feedback_record(turn: TurnResult, settings: Settings) -> dict[str, Any] | None:
    """The feedback record of a turn that gave feedback (:func:`feedback_verdict`); else None.

    The judged answer is the previous turn's: its qid is still in the session attributes
    (``qnabotcontext.previous``, or ``qnabot_qid``). One turn gives at most one record, so a
    thumbs utterance QnABot's feedback item answers (through its hook) counts once.
    """
    verdict = feedback_verdict(turn)
    if verdict is None:
        return None
    previous = turn.request.context.get("previous")
    previous = previous if isinstance(previous, Mapping) else {}
    redact = redactor(settings)
    return {
        "datetime": now_iso(),
        "sessionId": turn.request.session_id,
        "feedback": verdict,
        "qid": str(previous.get("qid") or turn.request.session_attributes.get("qnabot_qid") or ""),
        "utterance": redact(str(previous.get("q") or "")),
        "clientType": _client_type(turn),
        "channel": turn.request.channel,
    }


_sink: MetricsSink | None = None
_sink_lock = threading.Lock()


def _configured() -> tuple[str, str]:
    """(kind, location) of the sink the environment asks for."""
    choice = os.environ.get("QNABOT_METRICS", "").strip().lower()
    if not choice:
        if os.environ.get("METRICS_FIREHOSE_STREAM"):
            choice = "firehose"
        else:
            choice = "none" if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else "sqlite"
    if choice == "firehose":
        return "firehose", os.environ.get("METRICS_FIREHOSE_STREAM", "")
    if choice != "sqlite":
        return "none", ""
    from knowledge.home import qnabot_home

    return "sqlite", str(qnabot_home() / "metrics.sqlite")


def open_metrics_sink() -> MetricsSink:
    """The sink the environment asks for: ``QNABOT_METRICS`` = ``sqlite``, ``firehose`` or
    ``none``.

    Without the variable: Firehose when ``METRICS_FIREHOSE_STREAM`` names a delivery stream
    (``FEEDBACK_FIREHOSE_STREAM`` for feedback, else the same one), else SQLite under
    ``QNABOT_HOME`` outside Lambda, nothing in Lambda.
    """
    kind, location = _configured()
    if kind == "sqlite":
        from pathlib import Path

        from fulfillment.metrics_sqlite import SqliteMetricsSink

        return SqliteMetricsSink(Path(location))
    if kind == "firehose" and location:
        from fulfillment.metrics_firehose import FirehoseMetricsSink

        return FirehoseMetricsSink(location, os.environ.get("FEEDBACK_FIREHOSE_STREAM", ""))
    return NullMetricsSink()


_sink_key: tuple[str, str] | None = None


def get_metrics_sink() -> MetricsSink:
    """The process's sink, opened on first use (again when ``QNABOT_HOME`` changes)."""
    global _sink, _sink_key
    with _sink_lock:
        key = _configured()
        if _sink is None or (_sink_key is not None and key != _sink_key):
            _sink, _sink_key = open_metrics_sink(), key
        return _sink


def set_metrics_sink(sink: MetricsSink | None) -> None:
    """Use ``sink`` from now on (tests); None opens the configured one again."""
    global _sink, _sink_key
    with _sink_lock:
        _sink, _sink_key = sink, None


def record_turn_metrics(turn: TurnResult, settings: Settings,
                        sink: MetricsSink | None = None) -> None:
    """Record the turn (and its feedback, for a thumbs utterance). Never raises."""
    try:
        target = sink or get_metrics_sink()
        target.record_turn(turn_record(turn, settings))
        feedback = feedback_record(turn, settings)
        if feedback is not None:
            target.record_feedback(feedback)
    except Exception as exc:  # noqa: BLE001 - metrics must never cost an answer
        logger.warning("metrics not recorded: %s", exc)
