"""The typed objects a turn moves in: what was asked (:class:`Request`) and what is answered.

Raw dicts live only at the edges (the Lex event and response, the CLI's JSON); the pipeline
reads and writes these.

Example:
    >>> req = Request(session_id="s1", transcript="What is Amazon Lex?")
    >>> req.channel
    'text'
    >>> Answer(text="Hi", source="qna", qid="Hello.001").got_hits
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

InputMode = Literal["Text", "Speech", "DTMF"]
Channel = Literal["text", "voice"]
#: Where an answer came from. ``error`` is the fallback of last resort; ``rejected`` refuses a
#: question that carries personal information; ``guardrail`` is a guardrail's blocked message.
#: ``elicit``, ``bot_routing`` and ``quiz`` answer a turn of a dialog an item started.
AnswerSource = Literal["qna", "text", "kendra", "knowledge_base", "no_hits", "error",
                       "rejected", "guardrail", "elicit", "bot_routing", "quiz"]

#: Sources that mean "the bot found an answer" (QnABot's ``qnabot_gotanswer``).
ANSWERED_SOURCES = frozenset({"qna", "text", "kendra", "knowledge_base", "elicit",
                              "bot_routing", "quiz"})


@dataclass(frozen=True)
class Request:
    """One user turn as the bot understands it, whatever channel it came from.

    ``session_attributes`` holds the Lex session attributes with JSON values already parsed;
    ``raw_session_attributes`` the strings as received (they are echoed back to Lex).
    ``qid`` is set when the turn asks for one item directly (a ``QID-INTENT-`` intent).
    """

    session_id: str
    transcript: str
    input_mode: InputMode = "Text"
    locale: str = "en_US"
    intent_name: str = "FallbackIntent"
    invocation_source: str = "FulfillmentCodeHook"
    qid: str = ""
    accepts_ssml: bool = False
    session_attributes: Mapping[str, Any] = field(default_factory=dict)
    raw_session_attributes: Mapping[str, str] = field(default_factory=dict)
    request_attributes: Mapping[str, str] = field(default_factory=dict)
    slots: Mapping[str, Any] = field(default_factory=dict)
    bot_name: str = ""

    @property
    def channel(self) -> Channel:
        """``voice`` when the client accepts SSML (Amazon Connect) or the user spoke."""
        return "voice" if self.accepts_ssml or self.input_mode == "Speech" else "text"

    @property
    def user_id(self) -> str:
        """Whose history this turn extends: the Lex session (a new session starts fresh)."""
        return self.session_id

    @property
    def context(self) -> Mapping[str, Any]:
        """QnABot's ``qnabotcontext`` attribute (previous qid and question, topic)."""
        value = self.session_attributes.get("qnabotcontext")
        return value if isinstance(value, Mapping) else {}

    @property
    def topic(self) -> str:
        """The session topic: the ``t`` of the item answered last."""
        topic = self.context.get("topic") or self.session_attributes.get("topic") or ""
        return topic if isinstance(topic, str) else ""


@dataclass(frozen=True)
class Citation:
    """A source shown under a generated or retrieved answer."""

    title: str
    url: str = ""

    def to_json(self) -> dict[str, str]:
        return {"title": self.title, "url": self.url}


@dataclass(frozen=True)
class CardButton:
    text: str
    value: str


@dataclass(frozen=True)
class ResponseCard:
    """A response card, already fitted to Lex's limits."""

    title: str
    subtitle: str = ""
    image_url: str = ""
    buttons: tuple[CardButton, ...] = ()


@dataclass
class Answer:
    """What the bot says, in each form a client may want.

    ``text`` is plain text; ``markdown`` and ``ssml`` are the rich forms (empty means "derive
    from text" when rendering). ``topic`` becomes the session topic when set.
    """

    text: str
    source: AnswerSource
    qid: str | None = None
    markdown: str = ""
    ssml: str = ""
    score: float | None = None
    topic: str = ""
    card: ResponseCard | None = None
    citations: tuple[Citation, ...] = ()
    session_attributes: dict[str, str] = field(default_factory=dict)
    generated: bool = False  # written by the LLM
    next_qid: str = ""
    #: Entries of QnABot's ``qnabotcontext`` attribute this answer sets (a dialog in progress:
    #: ``elicitResponse``, ``specialtyBot``, ``quiz``; ``navigation`` for guided navigation).
    #: What is not set again on a turn is gone on the next one.
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def got_hits(self) -> bool:
        """True when the answer came from the content, not from a fallback message."""
        return self.source in ANSWERED_SOURCES


@dataclass(frozen=True)
class LlmCall:
    """One call to the LLM during a turn, for the turn log and ``--json`` debug output."""

    purpose: Literal["rewrite", "qa"]
    ok: bool
    ms: float
    input_tokens: int = 0
    output_tokens: int = 0
    error: str = ""
    first_token_ms: float | None = None  # when streamed: time to the first text

    def to_json(self) -> dict[str, Any]:
        body = {"purpose": self.purpose, "ok": self.ok, "ms": round(self.ms, 1),
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "error": self.error}
        if self.first_token_ms is not None:
            body["first_token_ms"] = round(self.first_token_ms, 1)
        return body


@dataclass
class TurnDebug:
    """How a turn was answered: search string, rewrite, candidates, timings, LLM calls."""

    search_string: str = ""
    generated_query: str = ""
    rewrite_skipped: str = ""  # why the rewrite was not asked for, if it was not
    rewrite_cached: bool = False  # the rewrite came from the cache, without an LLM call
    context_question: str = ""  # the previous question, when matching needed it (no LLM)
    timings_ms: dict[str, float] = field(default_factory=dict)
    llm_calls: list[LlmCall] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    degraded: list[str] = field(default_factory=list)
    hook: str = ""
    pii_rejected: bool = False  # the question carried PII: it is not logged or kept
    guardrail: list[str] = field(default_factory=list)  # what the guardrails found, per step
    language: str = ""  # the turn's language, with ENABLE_MULTI_LANGUAGE_SUPPORT
    translated_question: str = ""  # the question in the knowledge base's language
    chained: list[str] = field(default_factory=list)  # qids joined by conditional chaining
    dialog: str = ""  # the dialog that answered: elicit response, bot routing, quiz
    feedback: str = ""  # "thumbs_up" / "thumbs_down": a feedback hook judged the previous answer
    suggestions: list[str] = field(default_factory=list)  # qids offered as "did you mean"

    def to_json(self) -> dict[str, Any]:
        return {
            "search_string": self.search_string,
            "generated_query": self.generated_query,
            "rewrite_skipped": self.rewrite_skipped,
            "rewrite_cached": self.rewrite_cached,
            "context_question": self.context_question,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "llm_calls": [c.to_json() for c in self.llm_calls],
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "degraded": list(self.degraded),
            "hook": self.hook,
            "pii_rejected": self.pii_rejected,
            "guardrail": list(self.guardrail),
            "language": self.language,
            "translated_question": self.translated_question,
            "chained": list(self.chained),
            "dialog": self.dialog,
            "feedback": self.feedback,
            "suggestions": list(self.suggestions),
        }


@dataclass
class TurnResult:
    """The outcome of one turn: the answer, and what the next turn needs."""

    request: Request
    answer: Answer
    debug: TurnDebug
    topic: str = ""

    def to_json(self) -> dict[str, Any]:
        """The summary ``qnabot ask --json`` prints (``qid`` is null when nothing matched)."""
        answer = self.answer
        return {
            "answer": answer.text,
            "markdown": answer.markdown,
            "ssml": answer.ssml,
            "qid": answer.qid if answer.got_hits else None,
            "item_qid": answer.qid,  # the item whose text was given (no_hits, error_msg too)
            "source": answer.source,
            "score": None if answer.score is None else round(answer.score, 4),
            "topic": self.topic,
            "citations": [c.to_json() for c in answer.citations],
            "got_hits": answer.got_hits,
            "generated": answer.generated,
            "debug": self.debug.to_json(),
        }
