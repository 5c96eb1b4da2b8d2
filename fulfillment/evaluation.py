"""Labeled conversations through the fulfillment handler, turn by turn, as Lex runs them.

This is the one implementation behind ``qnabot eval`` and the content designer's "test all"
job. For each conversation of a labeled file (:func:`knowledge.evaluation.load_conversations`):

1. a fresh Lex session id;
2. for each turn, the Lex V2 event Lex would send (:func:`~fulfillment.lex_event.make_event`)
   carrying the session attributes of the previous response, exactly as the Lex runtime
   carries them, so topic follow-ups and LLM rewrites are measured as users get them;
3. the fulfillment handler's answer (:func:`fulfillment.handler.handle_event`, or the same
   steps over a given pipeline for the designer's job);
4. one :class:`~knowledge.evaluation.TurnOutcome`: the qid and source answered (a fallback
   answer counts as no answer), its score, the ranked candidate qids of the turn's
   knowledge-base search (for MRR), the latency and the number of LLM calls.

:func:`knowledge.evaluation.summarize` turns the outcomes into figures; :class:`EvalReport`
adds the results per topic (the topic of the expected item).

Example:
    >>> runner = ConversationRunner.from_environment()  # doctest: +SKIP
    >>> report = runner.evaluate(load_conversations(Path("data/eval/dev.jsonl")))  # doctest: +SKIP
    >>> report.summary()["accuracy"]  # doctest: +SKIP
    0.87
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fulfillment.handler import Outcome
from fulfillment.lex_event import make_event
from fulfillment.model import TurnResult
from knowledge.evaluation import Conversation, EvalTurn, TurnOutcome, summarize
from knowledge.knowledge_base import KnowledgeBase
from knowledge.matching import SearchResult
from knowledge.settings import Settings

#: The handler's signature: a Lex V2 event and a Lambda context -> the response and the turn.
Fulfill = Callable[[dict[str, Any], Any], Outcome]

#: The topic shown for turns that expect no answer, and for expected items without a topic.
NO_ANSWER_TOPIC = "(no answer)"
NO_TOPIC = "(no topic)"


class CandidateRecorder:
    """A knowledge base that remembers the ranked qids of its last search.

    The pipeline searches once per turn; the ranking is what MRR is computed from. Everything
    but :meth:`search` is the wrapped knowledge base's.
    """

    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        self.ranked: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kb, name)

    def search(self, query: str, settings: Settings, **options: Any) -> SearchResult:
        """The wrapped search; its candidates' qids are kept, best first, each once."""
        result = self.kb.search(query, settings, **options)
        self.ranked = list(dict.fromkeys(hit.item.qid for hit in result.candidates))
        return result

    def take(self) -> list[str]:
        """The ranking of the last search (empty when the turn did not search), then forget it."""
        ranked, self.ranked = self.ranked, []
        return ranked


def pipeline_fulfill(pipeline: Any, settings: Settings) -> Fulfill:
    """The handler's steps (event -> request -> pipeline -> Lex response) over ``pipeline`` and
    fixed ``settings``, for a caller that has its own knowledge base (the designer's job) and
    must not replace the process's fulfillment service."""
    from fulfillment.lex_event import parse_event
    from fulfillment.lex_response import build_response

    def fulfill(event: dict[str, Any], context: Any) -> Outcome:
        turn = pipeline.run(parse_event(event), settings)
        return Outcome(build_response(turn), turn)

    return fulfill


@dataclass
class EvalReport:
    """Every turn's outcome, and the topic of each expected qid."""

    outcomes: list[TurnOutcome]
    topics: dict[str, str] = field(default_factory=dict)

    def topic_of(self, outcome: TurnOutcome) -> str:
        """The topic a turn is counted under: its expected item's."""
        if outcome.expected.no_answer:
            return NO_ANSWER_TOPIC
        return self.topics.get(outcome.expected.qid or "", "") or NO_TOPIC

    def by_topic(self) -> dict[str, dict]:
        """:func:`~knowledge.evaluation.summarize` of the turns of each topic."""
        return summarize_groups(self.outcomes, self.topic_of)

    def by_category(self) -> dict[str, dict]:
        """:func:`~knowledge.evaluation.summarize` of the turns of each category."""
        return summarize_groups(self.outcomes, lambda outcome: outcome.category or "-")

    def summary(self) -> dict:
        """The figures of :func:`~knowledge.evaluation.summarize`, plus ``by_topic``."""
        return {**summarize(self.outcomes), "by_topic": self.by_topic()}


def summarize_groups(outcomes: Iterable[TurnOutcome],
                     key: Callable[[TurnOutcome], str]) -> dict[str, dict]:
    """:func:`~knowledge.evaluation.summarize` of each group of turns, by name.

    >>> summarize_groups([], lambda outcome: outcome.category)
    {}
    """
    groups: dict[str, list[TurnOutcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[key(outcome)].append(outcome)
    return {name: summarize(group, by_category=False) for name, group in sorted(groups.items())}


class ConversationRunner:
    """Runs labeled conversations through a fulfillment function.

    ``recorder`` must be the knowledge base the fulfillment function's pipeline searches, so
    that each turn's ranking can be read.
    """

    def __init__(self, fulfill: Fulfill, recorder: CandidateRecorder, *,
                 session_prefix: str = "eval"):
        self.fulfill = fulfill
        self.recorder = recorder
        self.session_prefix = session_prefix

    @classmethod
    def from_environment(cls) -> ConversationRunner:
        """The fulfillment Lambda handler of this process, over the knowledge base, settings,
        LLM and memory that the environment and ``QNABOT_HOME`` configure (``qnabot eval``).
        """
        from fulfillment.handler import FulfillmentService

        return cls.for_service(FulfillmentService.from_environment())

    @classmethod
    def for_service(cls, service: Any) -> ConversationRunner:
        """:func:`fulfillment.handler.handle_event` with ``service`` (a ``FulfillmentService``)
        as the process's fulfillment service, its knowledge base observed.

        This replaces the process's service: use it in a process of its own (the CLI, a
        benchmark), not in a server that also chats.
        """
        from fulfillment.handler import handle_event, set_service

        recorder = CandidateRecorder(service.pipeline.services.kb)
        service.pipeline.services.kb = recorder
        set_service(service)
        return cls(handle_event, recorder)

    @classmethod
    def over(cls, kb: KnowledgeBase, settings: Settings, llm: Any = None) -> ConversationRunner:
        """A turn pipeline over ``kb`` with ``settings``, the ``llm`` (none by default) and a
        memory of its own (the designer's "test all" job)."""
        from fulfillment.llm.disabled import DisabledLLM
        from fulfillment.memory import InMemoryUserStore, Memory
        from fulfillment.pipeline import Services, TurnPipeline

        recorder = CandidateRecorder(kb)
        pipeline = TurnPipeline(Services(recorder, llm or DisabledLLM(),  # type: ignore[arg-type]
                                         Memory(InMemoryUserStore())))
        return cls(pipeline_fulfill(pipeline, settings), recorder, session_prefix="test-all")

    def service_llm(self) -> Any:
        """The LLM the handler's pipeline uses (the DISABLED one when there is none)."""
        from fulfillment.handler import get_service
        from fulfillment.llm.disabled import DisabledLLM

        try:
            return get_service().pipeline.services.llm
        except Exception:  # noqa: BLE001 - a runner over its own pipeline: no process service
            return DisabledLLM()

    def run(self, conversations: Iterable[Conversation],
            on_turn: Callable[[TurnOutcome], None] | None = None) -> list[TurnOutcome]:
        """Every turn of every conversation, in order; ``on_turn`` gets each outcome."""
        outcomes = []
        for conversation in conversations:
            session_id = f"{self.session_prefix}-{conversation.id}-{uuid.uuid4().hex[:8]}"
            attributes: dict[str, str] = {}
            for turn in conversation.turns:
                outcome, attributes = self.run_turn(conversation, turn, session_id, attributes)
                outcomes.append(outcome)
                if on_turn:
                    on_turn(outcome)
        return outcomes

    def run_turn(self, conversation: Conversation, turn: EvalTurn, session_id: str,
                 attributes: dict[str, str]) -> tuple[TurnOutcome, dict[str, str]]:
        """One turn: its outcome, and the session attributes for the next turn."""
        event = make_event(turn.question, session_id=session_id, session_attributes=attributes)
        self.recorder.take()
        started = time.perf_counter()
        result = self.fulfill(event, None)
        latency_ms = (time.perf_counter() - started) * 1000
        next_attributes = dict((result.response.get("sessionState") or {})
                               .get("sessionAttributes") or {})
        return outcome_of(conversation, turn, result.turn, self.recorder.take(),
                          latency_ms), next_attributes

    def topics(self, conversations: Sequence[Conversation]) -> dict[str, str]:
        """The topic of every expected qid that is in the knowledge base."""
        qids = sorted({t.expected.qid for c in conversations for t in c.turns
                       if t.expected.qid})
        return {qid: item.topic for qid, item in self.recorder.kb.store.get_many(qids).items()}

    def evaluate(self, conversations: Sequence[Conversation],
                 on_turn: Callable[[TurnOutcome], None] | None = None) -> EvalReport:
        """Run the conversations and report (outcomes and topics)."""
        return EvalReport(self.run(conversations, on_turn), self.topics(conversations))


def outcome_of(conversation: Conversation, turn: EvalTurn, result: TurnResult | None,
               ranked: list[str], latency_ms: float) -> TurnOutcome:
    """What a turn got: a fallback answer (no_hits item, error message) counts as no qid."""
    answer = result.answer if result is not None else None
    answered = answer is not None and answer.got_hits
    debug = result.debug if result is not None else None
    rewritten = debug.generated_query if debug is not None else ""
    if rewritten.strip().lower().rstrip("?!. ") == turn.question.strip().lower().rstrip("?!. "):
        rewritten = ""  # the LLM gave the question back as it was
    return TurnOutcome(
        conversation_id=conversation.id,
        category=conversation.category,
        question=turn.question,
        expected=turn.expected,
        qid=answer.qid if answered else None,
        source=answer.source if answer is not None else "error",
        score=answer.score if answered else None,
        ranked_qids=ranked,
        latency_ms=round(latency_ms, 3),
        llm_calls=len(debug.llm_calls) if debug is not None else 0,
        llm_ms=round(sum(c.ms for c in debug.llm_calls), 3) if debug is not None else 0.0,
        rewritten=rewritten,
        generated=bool(answer is not None and answer.generated),
        citations=len(answer.citations) if answer is not None else 0,
        llm=turn.llm,
        suggested=tuple(debug.suggestions) if debug is not None and not answered else (),
    )
