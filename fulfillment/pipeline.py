"""The turn pipeline: the service that answers one user turn. It talks to ports only.

A turn runs these steps:

0. **guard and privacy**: the preprocess guardrail may block the question (or mask PII in it),
   then with ``PII_REJECTION_ENABLED`` a question carrying PII is refused
   (:mod:`fulfillment.guardrails`, :mod:`fulfillment.pii`);
1. **memory**: the user's history in this session (:class:`~fulfillment.memory.Memory`);
2. **direct**: a ``QID-INTENT-`` intent or a ``QID::<qid>`` question answers that item (a
   passage asked by ``QID::``, a tapped "did you mean" button, answers the question before);
3. **rewrite**: a follow-up becomes a standalone question with the LLM, when that can help
   (:mod:`fulfillment.query_rewrite`); the search string is then "original / rewritten";
4. **the cascade**, a list of :class:`Stage` objects tried in order until one answers:
   ``qna`` (curated items, never rewritten by the LLM), then the fallbacks in
   ``FALLBACK_ORDER`` (``text`` passages, ``kendra``, ``knowledge_base``), then ``no_hits``
   (the item whose questions include ``ES_NO_HITS_QUESTION``, else ``EMPTYMESSAGE``), with
   "did you mean" buttons for the likeliest candidates on text channels.
   A passage or retrieved hit is answered by the LLM with citations when ``LLM_QA_ENABLE``;
   a reply matching ``LLM_QA_NO_HITS_REGEX`` means "no answer here" and the cascade goes on;
   an LLM failure falls back to the passage itself;
   Before 2, a dialog an earlier answer opened (bot routing, elicit response, quiz) may take
   the turn; after 4, an item's answer is followed up: conditional chaining, then the
   dialog the final item opens (:mod:`fulfillment.conversation`);
5. **hook**: an item's lambda hook, when its name is allowed (:mod:`fulfillment.hooks`), or
   one of QnABot's ``QNA:`` hooks played in process (:mod:`fulfillment.builtin_hooks`);
6. **templates**: the Handlebars of a curated answer (:mod:`fulfillment.templating`);
7. **guard**: the postprocess guardrail may block or mask the final answer, whatever its source;
8. **render**: markdown sanitized, SSML, debug prefix; the topic and the history saved.

An exception anywhere in the cascade answers with the ``error_msg`` item (questions include
``ES_ERROR_QUESTION``) or ``ERRORMESSAGE``; the turn never fails.

Example:
    >>> pipeline = TurnPipeline(Services(kb, DisabledLLM(), Memory(InMemoryUserStore())))
    ... # doctest: +SKIP
    >>> pipeline.run(Request("s1", "What is an Amazon Echo Show"), settings).answer.qid
    ... # doctest: +SKIP
    'Alexa.001'
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from fulfillment import guardrails, query_rewrite, render
from fulfillment.extractive import extract
from fulfillment.hooks import HookError, HookInvoker, apply_hook_reply, hook_decision, hook_payload
from fulfillment.llm.base import (
    LLM,
    Generation,
    LLMError,
    LLMTimeout,
    Prompt,
    TextListener,
    generate_within,
)
from fulfillment.memory import ChatMessage, Memory, UserRecord
from fulfillment.model import Answer, Citation, LlmCall, Request, TurnDebug, TurnResult
from fulfillment.multilanguage import MultiLanguage
from fulfillment.pii import DEFAULT_REJECTION, PiiDetector, PiiError
from fulfillment.prompts import ContextPassage, fit_qa_prompt, rewrite_prompt
from fulfillment.retrieval import RetrievalError, RetrievedPassage, Retriever
from fulfillment.sanitize import to_ssml
from fulfillment.session import current_session
from fulfillment.templated_answer import client_type, render_answer, template_fields_text
from fulfillment.templating import Renderer, TemplateContext
from knowledge.items import Item
from knowledge.knowledge_base import KnowledgeBase
from knowledge.matching import Hit, SearchResult
from knowledge.settings import Settings
from knowledge.store import SearchField
from knowledge.suggestions import suggestions_for

if TYPE_CHECKING:  # the conversation modules build on this one
    from fulfillment.response_bots import ResponseBots
    from fulfillment.routing import SpecialtyBots

log = logging.getLogger(__name__)

#: Time kept back from the Lambda's remaining time to build and return the response.
LAMBDA_RESERVE_SECONDS = 1.0
#: An LLM call is not started with less time than this left in the turn's budget.
MIN_LLM_SECONDS = 0.2
#: Passages offered to the LLM from the knowledge base's own text items.
MAX_TEXT_PASSAGES = 3
#: Session attribute that carries the client filter (QnABot's ``clientFilterValues``).
CLIENT_FILTER_ATTRIBUTE = "QNAClientFilter"


@dataclass
class Services:
    """The ports a turn uses. ``retrievers`` maps ``kendra``/``knowledge_base`` to adapters."""

    kb: KnowledgeBase
    llm: LLM
    memory: Memory
    retrievers: Mapping[str, Retriever] = field(default_factory=dict)
    hooks: HookInvoker | None = None
    pii: PiiDetector | None = None
    guard: guardrails.Guard | None = None
    languages: MultiLanguage | None = None  # with ENABLE_MULTI_LANGUAGE_SUPPORT
    #: Conversation ports (:mod:`fulfillment.conversation`); None means the defaults: local
    #: response bots (Lex for those the environment maps), Lex/Lambda specialty bots.
    response_bots: ResponseBots | None = None
    specialty_bots: SpecialtyBots | None = None
    url_signer: Callable[[str], str] | None = None  # presigns S3 links ({{signS3URL ...}})


@dataclass
class TurnState:
    """What the stages of one turn share."""

    request: Request
    settings: Settings
    services: Services
    history: tuple[ChatMessage, ...] = ()
    question: str = ""  # the user's words
    query: str = ""  # the standalone question (rewritten, or the original)
    search_string: str = ""  # what the knowledge base is searched with
    debug: TurnDebug = field(default_factory=TurnDebug)
    item: Item | None = None  # the item answered, if any
    chain: list[Item] = field(default_factory=list)  # items joined by chaining, in order
    user: UserRecord | None = None  # the users-table record before this turn
    pii_rejected: bool = False  # the question carried PII: not kept, not logged
    locale: str = ""  # the turn's language, with ENABLE_MULTI_LANGUAGE_SUPPORT
    locale_context: dict[str, Any] = field(default_factory=dict)  # kept in qnabotcontext
    started: float = field(default_factory=time.perf_counter)
    time_left: float | None = None  # what the caller (Lambda) allows this turn, in seconds
    on_partial: TextListener | None = None  # gets a generated answer's text so far
    _search: SearchResult | None = None

    @property
    def llm_timeout(self) -> float:
        """The next LLM call's time limit: the per-call limit of the channel, within what is
        left of the turn's budget (``TURN_TIME_BUDGET_SECONDS``, or the voice one)."""
        voice = self.request.channel == "voice"
        limit = float(self.settings.get(
            "LLM_VOICE_TIMEOUT_SECONDS" if voice else "LLM_TIMEOUT_SECONDS"))
        return min(limit, self.budget_left)

    @property
    def budget_left(self) -> float:
        """Seconds left of the turn's budget (and of the caller's time, in Lambda)."""
        voice = self.request.channel == "voice"
        budget = float(self.settings.get(
            "TURN_VOICE_TIME_BUDGET_SECONDS" if voice else "TURN_TIME_BUDGET_SECONDS"))
        if self.time_left is not None:
            budget = min(budget, self.time_left - LAMBDA_RESERVE_SECONDS)
        return budget - (time.perf_counter() - self.started)

    @property
    def previous_question(self) -> str:
        """The question of the previous turn, for matching follow-ups without an LLM."""
        previous = self.request.context.get("previous")
        question = previous.get("q") if isinstance(previous, Mapping) else ""
        return question if isinstance(question, str) and not self.debug.generated_query else ""

    @property
    def llm_on(self) -> bool:
        return self.services.llm.enabled

    @property
    def searched(self) -> SearchResult | None:
        """The turn's search if a stage ran it (None: the turn was answered without one)."""
        return self._search

    def search(self) -> SearchResult:
        """The knowledge-base search for this turn, run once and shared by the stages."""
        if self._search is None:
            started = time.perf_counter()
            client_filter = self.request.session_attributes.get(CLIENT_FILTER_ATTRIBUTE)
            self._search = self.services.kb.search(
                self.search_string, self.settings, topic=self.request.topic,
                context=self.previous_question,
                client_filter=client_filter if isinstance(client_filter, str) else None)
            if self._search.context_used:
                self.debug.context_question = self.previous_question
            self.debug.timings_ms["search"] = (time.perf_counter() - started) * 1000
            if self._search.degraded:
                self.debug.degraded.append(self._search.degraded)
        return self._search

    def call_llm(self, purpose: str, prompt: Prompt,
                 on_text: TextListener | None = None) -> Generation | None:
        """Call the LLM within the time limit (streaming to ``on_text`` when given); on
        failure log it and return None."""
        started = time.perf_counter()
        timeout = self.llm_timeout
        if timeout < MIN_LLM_SECONDS:
            self.debug.degraded.append(f"LLM {purpose} skipped: the turn's time budget is spent")
            return None
        try:
            generation = generate_within(self.services.llm, prompt, timeout, self.settings,
                                         on_text=on_text,
                                         stream_limit=self.budget_left if on_text else None)
        except LLMError as exc:
            kind = "timeout" if isinstance(exc, LLMTimeout) else "error"
            self.debug.llm_calls.append(LlmCall(purpose, False, _ms(started), error=str(exc)))
            self.debug.degraded.append(f"LLM {purpose} {kind}: {exc}")
            log.warning("LLM %s call failed, answering without it: %s", purpose, exc)
            return None
        self.debug.llm_calls.append(LlmCall(purpose, True, _ms(started),
                                            generation.input_tokens, generation.output_tokens,
                                            first_token_ms=generation.first_text_ms))
        return generation

    def partial_listener(self, prefix: str) -> TextListener | None:
        """Where a generated answer streams to: the caller's ``on_partial`` (with the answer
        prefix), or None for voice, when streaming is off, or when nobody listens."""
        listener = self.on_partial
        if listener is None or self.request.channel == "voice" or \
                not self.settings.get("LLM_STREAMING_ENABLED"):
            return None
        return lambda text: listener(f"{prefix} {text.strip()}" if prefix else text.strip())


def _iso(epoch: float) -> str:
    """Epoch seconds as QnABot writes dates (ISO 8601, UTC)."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def with_llm_defaults(settings: Settings, llm: LLM) -> Settings:
    """``settings`` with the LLM's own defaults (``setting_defaults``, e.g. the local CPU
    model's longer time limit and smaller prompt budget) for the settings the admin has not
    set; an admin's value always wins.

    >>> from fulfillment.llm.scripted import ScriptedLLM
    >>> llm = ScriptedLLM()
    >>> llm.setting_defaults = {"LLM_TIMEOUT_SECONDS": "25"}
    >>> with_llm_defaults(Settings.defaults(), llm).get("LLM_TIMEOUT_SECONDS")
    25.0
    """
    defaults = getattr(llm, "setting_defaults", None) or {}
    missing = {name: value for name, value in defaults.items() if name not in settings.raw}
    return settings.with_overrides(**missing) if missing else settings


class Stage(Protocol):
    """One step of the cascade: an answer, or None to let the next stage try."""

    name: str

    def answer(self, state: TurnState) -> Answer | None:
        ...


# --- answers from items ---------------------------------------------------------------------


def item_answer(item: Item, source: str = "qna", score: float | None = None) -> Answer:
    """A curated item's answer, as written (markdown and SSML alternatives included)."""
    return Answer(
        text=item.answer, source=source, qid=item.qid,  # type: ignore[arg-type]
        markdown=item.markdown, ssml=item.ssml, score=score, topic=item.topic,
        card=render.fit_card(item.card), session_attributes=dict(item.session_attributes),
        next_qid=item.next_qid,
    )


def find_item_by_question(kb: KnowledgeBase, question: str) -> Item | None:
    """The item one of whose questions is exactly ``question`` (case-insensitive), if any.

    Used for the ``no_hits`` and ``error_msg`` items. A keyword search finds the candidates,
    and the exact comparison decides, so a similar question never stands in.
    """
    wanted = question.strip().lower()
    if not wanted:
        return None
    cached = _SPECIAL_ITEMS.get((id(kb), wanted))
    if cached:
        item = kb.store.get(cached)
        if item and wanted in (q.strip().lower() for q in item.questions):
            return item
    matches = kb.store.search(SearchField.QUESTIONS, vector=None, text=question, k=50)
    items = kb.store.get_many([m.qid for m in matches])
    for match in matches:
        item = items.get(match.qid)
        if item and wanted in (q.strip().lower() for q in item.questions):
            _SPECIAL_ITEMS[(id(kb), wanted)] = item.qid
            return item
    return None


_SPECIAL_ITEMS: dict[tuple[int, str], str] = {}


# --- generative answers ---------------------------------------------------------------------


def generate_answer(state: TurnState, passages: Sequence[ContextPassage], *,
                    citations: Sequence[Citation], fallback: Answer) -> Answer | None:
    """The LLM's answer from ``passages``; ``fallback`` when the LLM is off or fails; None
    when the LLM says the passages do not answer (``LLM_QA_NO_HITS_REGEX``)."""
    settings = state.settings
    if not (state.llm_on and settings.get("LLM_QA_ENABLE")) or not passages:
        return fallback
    system = settings.get("LLM_QA_SYSTEM_PROMPT")
    fitted = fit_qa_prompt(
        settings.get("LLM_QA_PROMPT_TEMPLATE"), passages=passages, history=state.history,
        query=state.query, user_input=state.question,
        max_tokens=settings.get("LLM_PROMPT_MAX_TOKEN_LIMIT"), system=system)
    if fitted.truncated:
        state.debug.degraded.append(
            f"prompt trimmed to {fitted.tokens} tokens: kept {fitted.history_kept} history "
            f"messages and {fitted.passages_kept} passages")
    prefix = settings.get("LLM_QA_PREFIX_MESSAGE").strip()
    generation = state.call_llm(
        "qa", Prompt(fitted.text, system, settings.get("LLM_QA_MODEL_PARAMS")),
        on_text=state.partial_listener(prefix))
    if generation is None:
        return fallback
    text = generation.text.strip()
    no_hits = settings.get("LLM_QA_NO_HITS_REGEX")
    if not text or (no_hits is not None and no_hits.search(text)):
        state.debug.degraded.append(f"LLM found no answer in the {fallback.source} passages")
        return None
    used = [p.text for p in passages[: fitted.passages_kept]]
    return replace(
        fallback,
        text=f"{prefix} {text}" if prefix else text,
        markdown=render.generated_markdown(
            text, prefix=prefix, context=used, citations=citations[: fitted.passages_kept],
            show_context=settings.get("LLM_QA_SHOW_CONTEXT_TEXT"),
            show_links=settings.get("LLM_QA_SHOW_SOURCE_LINKS")),
        ssml=to_ssml(text),
        citations=tuple(citations[: fitted.passages_kept]),
        generated=True,
    )


# --- the stages -----------------------------------------------------------------------------


class QnaStage:
    """Curated QnA items (questions, then answers when ``ES_SCORE_ANSWER_FIELD``)."""

    name = "qna"

    def answer(self, state: TurnState) -> Answer | None:
        best = state.search().best
        if best is None or best.stage == SearchField.PASSAGES:
            return None
        state.item = best.item
        state.debug.scores["qna"] = best.score
        redirect = best.item.kendra_redirect_query.strip()
        if redirect:  # QnABot's kendraRedirectQueryText: answer from Kendra with this query
            answer = RetrieverStage("kendra", query=redirect).answer(state)
            if answer is not None:
                state.item = None
                return answer
            state.debug.degraded.append("Kendra redirect found nothing; answered the item")
        return item_answer(best.item, "qna", best.score)


class TextPassageStage:
    """The knowledge base's text passages, answered by the LLM or as they are."""

    name = "text"

    def answer(self, state: TurnState) -> Answer | None:
        found: list[Hit] = [h for h in state.search().candidates
                            if h.stage == SearchField.PASSAGES]
        top = next((h for h in found if h.passed), None)
        if top is None:
            return None
        # The LLM also reads the other passages as similar to the question as QnABot's
        # threshold asks, though only the top one may answer alone.
        hits = [top, *(h for h in found if h is not top and h.score >= h.threshold)]
        hits = hits[:MAX_TEXT_PASSAGES]
        state.item = top.item
        state.debug.scores["text"] = top.score
        # Without an LLM (or when it fails): the sentences that answer, not the whole passage.
        fallback = passage_excerpt(state, top.item, state.query or state.request.transcript,
                                   top.score)
        citations = [_ref_citation(h.item) or Citation(_title(h.item)) for h in hits]
        passages = [ContextPassage(h.item.passage, c.title, c.url)
                    for h, c in zip(hits, citations, strict=True)]
        return generate_answer(state, passages, citations=citations, fallback=fallback)


def passage_excerpt(state: TurnState, item: Item, question: str,
                    score: float | None) -> Answer:
    """A passage answered without the LLM: the sentences that answer ``question`` (the whole
    passage when there is no question or no embeddings), with the passage's source link."""
    excerpt = extract(question, item.passage, getattr(state.services.kb, "embeddings", None),
                      voice=state.request.channel == "voice") if question.strip() else None
    text = excerpt.text if excerpt is not None else item.passage
    citation = _ref_citation(item)
    return replace(item_answer(item, "text", score), text=text,
                   markdown=render.passage_markdown(text, item.ref_markdown),
                   citations=(citation,) if citation else ())


def _title(item: Item) -> str:
    """A passage's title for the prompt and citations: its card title, else its qid."""
    card = item.card
    return card.title if card is not None and card.title else item.qid


def _ref_citation(item: Item) -> Citation | None:
    link = item.ref_link
    return Citation(*link) if link else None


class RetrieverStage:
    """Kendra or a Bedrock knowledge base: retrieved passages, answered with citations."""

    def __init__(self, name: str, query: str | None = None):
        self.name = name
        self.query = query  # instead of the turn's query (an item's Kendra redirect)

    def answer(self, state: TurnState) -> Answer | None:
        retriever = state.services.retrievers.get(self.name)
        if retriever is None or not retriever.configured(state.settings):
            return None
        try:
            found: list[RetrievedPassage] = retriever.retrieve(self.query or state.query,
                                                               state.settings)
        except RetrievalError as exc:
            state.debug.degraded.append(str(exc))
            log.warning("%s retrieval failed, trying the next source: %s", self.name, exc)
            return None
        if not found:
            return None
        top = found[0]
        citations = [p.citation() for p in found]
        link = render.source_link(top.citation())
        fallback = Answer(
            text=top.text, source=self.name, score=top.score,  # type: ignore[arg-type]
            markdown=render.passage_markdown(top.text, f"Source: {link}" if link else ""),
            citations=(top.citation(),),
        )
        passages = [ContextPassage(p.text, p.title, p.url) for p in found]
        return generate_answer(state, passages, citations=citations, fallback=fallback)


class NoHitsStage:
    """The ``no_hits`` item, else ``EMPTYMESSAGE``. Always answers."""

    name = "no_hits"

    def answer(self, state: TurnState) -> Answer | None:
        item = find_item_by_question(state.services.kb, state.settings.get("ES_NO_HITS_QUESTION"))
        if item is not None:
            state.item = item
            answer = replace(item_answer(item, "no_hits"), topic="")
        else:
            answer = Answer(text=state.settings.get("EMPTYMESSAGE"), source="no_hits")
        return with_suggestions(state, answer)


def with_suggestions(state: TurnState, answer: Answer) -> Answer:
    """The no-hits answer with "did you mean" buttons for the turn's most confident candidates
    (:mod:`knowledge.suggestions`), on text channels, when ``NO_HITS_SUGGESTIONS`` allows."""
    result = state.searched
    if result is None or result.params is None or state.request.channel == "voice":
        return answer
    offered = suggestions_for(result.candidates, result.params)
    if not offered:
        return answer
    state.debug.suggestions = [s.qid for s in offered]
    return replace(answer, card=render.suggestions_card(
        [(s.label, s.value) for s in offered], state.settings.get("NO_HITS_SUGGESTIONS_TITLE"),
        answer.card))


FALLBACK_STAGES: dict[str, Callable[[], Stage]] = {
    "text": TextPassageStage,
    "kendra": lambda: RetrieverStage("kendra"),
    "knowledge_base": lambda: RetrieverStage("knowledge_base"),
}


def cascade(settings: Settings) -> list[Stage]:
    """The stages in order: qna, the fallbacks of ``FALLBACK_ORDER``, no_hits.

    Unknown names in ``FALLBACK_ORDER`` are ignored; the text stage always runs (first among
    any left out) so passages are never skipped by a typo.

    >>> [s.name for s in cascade(Settings.defaults())]
    ['qna', 'text', 'kendra', 'knowledge_base', 'no_hits']
    """
    order = [name for name in dict.fromkeys(settings.get("FALLBACK_ORDER"))
             if name in FALLBACK_STAGES]
    if "text" not in order:
        order.insert(0, "text")
    return [QnaStage(), *(FALLBACK_STAGES[name]() for name in order), NoHitsStage()]


# --- the pipeline ---------------------------------------------------------------------------


class TurnPipeline:
    """Answers turns with the given services. One instance serves every turn."""

    def __init__(self, services: Services, *, smart_rewrite_skip: bool = True):
        from fulfillment import conversation  # its modules build on this one

        self.services = services
        self.smart_rewrite_skip = smart_rewrite_skip
        self.dialogs = conversation.dialog_stages(services)
        self.follow_ups = conversation.follow_ups(services)
        self.builtin_hooks = conversation.builtin_hooks(services)
        self.rewrite_cache = query_rewrite.RewriteCache()

    def run(self, request: Request, settings: Settings, *,
            time_left: float | None = None, on_partial: TextListener | None = None) -> TurnResult:
        """Answer one turn. Never raises for a problem with the content or a backend.

        ``time_left`` (seconds) is what the caller allows, e.g. the Lambda's remaining time;
        LLM calls stay within it and within the turn's time budget setting. ``on_partial``
        gets a generated answer's text so far while it is generated (text channels, when
        ``LLM_STREAMING_ENABLED``): the local chat page's streaming.
        """
        settings = with_llm_defaults(settings, self.services.llm)
        if guardrails.configured(settings, "POSTPROCESS") or \
                settings.get("ENABLE_MULTI_LANGUAGE_SUPPORT"):
            on_partial = None  # the answer is checked or translated whole before it is shown
        state = TurnState(request, settings, self.services, question=request.transcript,
                          time_left=time_left, on_partial=on_partial)
        started = state.started
        try:
            answer = self._answer(state)
            for step in self.follow_ups:
                answer = step.apply(state, answer)
        except Exception as exc:  # noqa: BLE001 - a turn must always answer
            log.exception("turn failed, answering with the error message")
            state.debug.degraded.append(f"turn failed: {type(exc).__name__}: {exc}")
            state.item = None
            answer = self._error_answer(state)
        answer = self._fill_templates(state, self._run_hook(state, answer))
        if self.services.languages is not None:
            answer = self.services.languages.localize(state, answer)
        answer = guardrails.guard_answer(state, answer, self.services.guard)
        self._remember(state, answer)
        answer = render.finish(answer, debug_line=self._debug_line(state, answer))
        topic = self._topic(state, answer)
        state.debug.search_string = state.search_string
        state.debug.pii_rejected = state.pii_rejected
        state.debug.timings_ms["total"] = _ms(started)
        return TurnResult(request, answer, state.debug, topic=topic)

    # -- steps --

    def _answer(self, state: TurnState) -> Answer:
        request = state.request
        if not request.transcript and not request.qid:
            state.debug.degraded.append("empty transcript")
            return Answer(text=state.settings.get("ERRORMESSAGE"), source="error")
        blocked = guardrails.guard_question(state, self.services.guard)
        if blocked is not None:
            return blocked
        rejection = self._reject_pii(state)
        if rejection is not None:
            return rejection
        if self.services.languages is not None:
            self.services.languages.prepare(state)
        state.history = self._history(state)
        for dialog in self.dialogs:  # a dialog an earlier answer opened takes the turn
            answer = dialog.answer(state)
            if answer is not None:
                return answer
        direct = self._direct(state)
        if direct is not None:
            return direct
        self._rewrite(state)
        for stage in cascade(state.settings):
            state.item = None
            stage_started = time.perf_counter()
            answer = stage.answer(state)
            state.debug.timings_ms[f"stage.{stage.name}"] = _ms(stage_started)
            if answer is not None:
                return answer
        raise AssertionError("the no_hits stage always answers")  # pragma: no cover

    def _reject_pii(self, state: TurnState) -> Answer | None:
        """With ``PII_REJECTION_ENABLED``: the refusal for a question carrying PII, else None."""
        settings, detector = state.settings, self.services.pii
        if not settings.get("PII_REJECTION_ENABLED") or detector is None or not state.question:
            return None
        started = time.perf_counter()
        try:
            found = detector.detect(state.question, state.request.locale[:2].lower())
        except PiiError as exc:
            state.debug.degraded.append(f"PII check skipped: {exc}")
            log.warning("PII check failed, answering without it: %s", exc)
            return None
        finally:
            state.debug.timings_ms["pii"] = _ms(started)
        refused = {t.upper() for t in settings.get("PII_REJECTION_ENTITY_TYPES")} & found
        if not refused:
            return None
        state.pii_rejected = True
        state.debug.degraded.append(f"question refused: it holds {', '.join(sorted(refused))}")
        item = find_item_by_question(self.services.kb, settings.get("PII_REJECTION_QUESTION"))
        if item is not None:
            state.item = item
            return replace(item_answer(item, "rejected"), topic="")
        return Answer(text=DEFAULT_REJECTION, source="rejected")

    def _history(self, state: TurnState) -> tuple[ChatMessage, ...]:
        request = state.request
        try:
            state.user = self.services.memory.user(request.user_id)
            return self.services.memory.history(request.user_id, request.session_id)
        except Exception as exc:  # noqa: BLE001 - memory is optional to a turn
            state.debug.degraded.append(f"history unavailable: {exc}")
            log.warning("could not read chat history: %s", exc)
            return ()

    def _fill_templates(self, state: TurnState, answer: Answer) -> Answer:
        """Render the Handlebars of a curated answer (never of LLM output or user text)."""
        item = state.item
        if answer.generated or item is None or answer.qid != item.qid or \
                "{{" not in template_fields_text(answer):
            return answer
        user, now = state.user, self.services.memory.clock()
        request = state.request
        previous = request.context.get("previous")
        context = TemplateContext(
            interaction_count=(user.interaction_count if user else 0) + 1,
            seconds_since_last=max(0.0, now - user.last_seen) if user else 0.0,
            user_id=request.user_id, question=state.query or state.question,
            original_question=state.question,
            previous_question=previous.get("q", "") if isinstance(previous, Mapping) else "",
            matched_question=item.questions[0] if item.questions else "",
            session=self._template_session(state, answer), slots=request.slots,
            settings=state.settings.qnabot_values(), client_type=client_type(request),
            locale=request.locale, input_transcript=request.transcript,
            user_info={"LastSeen": _iso(user.last_seen)} if user and user.last_seen else {},
            sign_url=self.services.url_signer)
        return render_answer(answer, Renderer(context))

    @staticmethod
    def _template_session(state: TurnState, answer: Answer) -> dict[str, Any]:
        """The session templates see: this turn's language included (``ifLang``)."""
        session = current_session(state.request, answer)
        if state.locale_context:
            context = session.get("qnabotcontext")
            session["qnabotcontext"] = {**(context if isinstance(context, Mapping) else {}),
                                        **state.locale_context}
        return session

    def _direct(self, state: TurnState) -> Answer | None:
        """``QID-INTENT-<qid>`` or ``QID::<qid>``: that item, without searching (a passage
        only by ``QID::``: its sentences for the previous question)."""
        question = state.question
        asked_by_text = question.upper().startswith(query_rewrite.QID_PREFIX)
        qid = question[len(query_rewrite.QID_PREFIX):].strip() if asked_by_text else \
            state.request.qid
        if not qid:
            return None
        state.search_string = f"QID::{qid}"
        item = self.services.kb.store.get(qid)
        if item is not None and item.kind == "qna":
            state.item = item
            return item_answer(item, "qna", 1.0)
        if item is not None and item.kind == "text" and asked_by_text:
            # a "did you mean" passage: the sentences that answer the question before it
            state.item = item
            return passage_excerpt(state, item, state.previous_question, 1.0)
        state.debug.degraded.append(f"no QnA item with qid {qid}")
        if asked_by_text:
            return NoHitsStage().answer(state)
        state.search_string = ""
        return None  # an intent for a deleted item: answer the words instead

    def _rewrite(self, state: TurnState) -> None:
        settings, question = state.settings, state.question
        state.query = state.search_string = question
        decision = query_rewrite.decide(question, state.history, settings,
                                        llm_enabled=state.llm_on,
                                        smart_skip=self.smart_rewrite_skip)
        if not decision.ask:
            state.debug.rewrite_skipped = decision.reason
            return
        fitted = rewrite_prompt(settings.get("LLM_GENERATE_QUERY_PROMPT_TEMPLATE"),
                                state.history, question,
                                settings.get("LLM_PROMPT_MAX_TOKEN_LIMIT"))
        prompt = Prompt(fitted.text, settings.get("LLM_GENERATE_QUERY_SYSTEM_PROMPT"),
                        settings.get("LLM_GENERATE_QUERY_MODEL_PARAMS"))
        started = time.perf_counter()
        cache = self.rewrite_cache if settings.get("LLM_GENERATE_QUERY_CACHE_ENABLE") else None
        key = cache.key(self.services.llm.name, prompt.text, prompt.system,
                        prompt.parameters) if cache is not None else ""
        rewritten = cache.get(key) if cache is not None else None
        if rewritten is not None:
            state.debug.rewrite_cached = True
        else:
            generation = state.call_llm("rewrite", prompt)
            rewritten = query_rewrite.clean_generated_query(generation.text) \
                if generation else ""
            if cache is not None:
                cache.put(key, rewritten)
        state.debug.timings_ms["rewrite"] = _ms(started)
        if rewritten:
            state.debug.generated_query = rewritten
            state.query = rewritten
            state.search_string = query_rewrite.search_string(question, rewritten)

    def _error_answer(self, state: TurnState) -> Answer:
        try:
            item = find_item_by_question(self.services.kb,
                                         state.settings.get("ES_ERROR_QUESTION"))
        except Exception:  # noqa: BLE001 - the store itself may be what failed
            item = None
        if item is not None:
            return replace(item_answer(item, "error"), topic="")
        return Answer(text=state.settings.get("ERRORMESSAGE"), source="error")

    def _run_hook(self, state: TurnState, answer: Answer) -> Answer:
        final = state.item
        if final is None or answer.qid != final.qid:
            return answer
        for item in state.chain or [final]:  # as QnABot: each chained item's hook, in order
            if item.lambda_hook:
                answer = self._run_one_hook(state, item, answer)
        return answer

    def _run_one_hook(self, state: TurnState, item: Item, answer: Answer) -> Answer:
        builtin = self.builtin_hooks.find(item.lambda_hook)
        if builtin is not None:
            state.debug.hook = f"ran built-in {item.lambda_hook}"
            return builtin(state, item, answer)
        decision = hook_decision(item.lambda_hook,
                                 state.settings.get("LAMBDA_HOOK_FUNCTION_PREFIX"))
        if not decision.invoke or self.services.hooks is None:
            state.debug.hook = decision.reason or "no hook invoker configured"
            log.info("lambda hook not run for %s: %s", item.qid, state.debug.hook)
            return answer
        started = time.perf_counter()
        try:
            reply = self.services.hooks.invoke(
                item.lambda_hook, hook_payload(state.request, item, answer, state.settings))
            answer = apply_hook_reply(answer, reply)
            state.debug.hook = f"ran {item.lambda_hook}"
        except (HookError, Exception) as exc:  # noqa: BLE001 - the item's answer still stands
            state.debug.hook = f"failed: {exc}"
            state.debug.degraded.append(f"lambda hook {item.lambda_hook} failed: {exc}")
            log.warning("lambda hook %s failed, answering without it: %s", item.lambda_hook, exc)
        state.debug.timings_ms["hook"] = _ms(started)
        return answer

    @staticmethod
    def _debug_line(state: TurnState, answer: Answer) -> str:
        if not state.settings.get("ENABLE_DEBUG_RESPONSES"):
            return ""
        rewrite_ms = state.debug.timings_ms.get("rewrite")
        return render.debug_prefix(
            user_input=state.question, search_string=state.search_string or state.question,
            generated_query=state.debug.generated_query, generation_ms=rewrite_ms,
            qid=answer.qid, source=answer.source)

    @staticmethod
    def _topic(state: TurnState, answer: Answer) -> str:
        """The next session topic: the answered item's, kept when nothing was found."""
        if answer.got_hits and state.item is not None and answer.qid == state.item.qid:
            return state.item.topic
        return state.request.topic

    def _remember(self, state: TurnState, answer: Answer) -> None:
        request = state.request
        if not request.transcript or state.pii_rejected:
            return
        said = answer.text or render.markdown_to_text(answer.markdown)
        prefix = state.settings.get("LLM_QA_PREFIX_MESSAGE").strip()
        if answer.generated and prefix and said.startswith(prefix):
            said = said[len(prefix):].strip()  # the history keeps what was said, not the label
        try:
            self.services.memory.record_turn(
                request.user_id, request.session_id, request.transcript, said,
                max_messages=state.settings.get("LLM_CHAT_HISTORY_MAX_MESSAGES"),
                ttl_days=state.settings.get("USER_HISTORY_TTL_DAYS"))
        except Exception as exc:  # noqa: BLE001 - losing history must not lose the answer
            state.debug.degraded.append(f"history not saved: {exc}")
            log.warning("could not save chat history: %s", exc)
