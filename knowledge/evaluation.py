"""Measuring answer quality on a labeled file of conversations.

The labeled format (JSON Lines, one conversation a line; see ``data/README.md``)::

    {"id": "c0001", "category": "paraphrase",
     "turns": [{"q": "how much is a monthly pass", "expect": {"qid": "Fares.MonthlyPass"}}]}

``expect`` is ``{"qid": ...}`` (a QnA item), ``{"source": "text", "qid": ...}`` (a passage),
``{"source": "kendra"}``, or ``{"no_answer": true}``. A turn may add ``"llm"`` checks of the
generative features (:class:`LlmCheck`): ``{"rewrite": true}`` (a follow-up that needs the
history: its rewrite must find the expected item), ``{"rewrite": false}`` (a self-contained
question the LLM must leave as it is), ``{"cite": true}`` (the answer must be generated from
the expected passage, with citations); :func:`summarize_llm` scores them.

Matching is evaluated by *recording* each turn's store evidence once (:func:`record`) and
*replaying* the cascade under any :class:`~knowledge.matching.MatchParams` (:func:`replay`),
so a sweep over thresholds and weights costs no further searches. Follow-up turns carry the
session topic of the previous answer, as the fulfillment handler does.

Example:
    >>> conversations = load_conversations(Path("data/eval/dev.jsonl"))  # doctest: +SKIP
    >>> recorded = record(kb, conversations, settings)  # doctest: +SKIP
    >>> params = MatchParams.from_settings(settings)  # doctest: +SKIP
    >>> summarize(replay(recorded, params))["accuracy"]  # doctest: +SKIP
    0.87
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from knowledge.classifier import ItemClassifier
from knowledge.followups import needs_context
from knowledge.items import Item
from knowledge.knowledge_base import KnowledgeBase
from knowledge.matching import Hit, MatchMode, MatchParams, decide
from knowledge.settings import Settings
from knowledge.store import FieldMatch, SearchField
from knowledge.suggestions import suggestions_for

SOURCES = ("qna", "text", "kendra", "knowledge_base")


class EvalFileError(ValueError):
    """The labeled file cannot be used; the message names the line and the problem."""


@dataclass(frozen=True)
class Expected:
    """What a turn should get: an item (``qid``) from a ``source``, or no answer."""

    qid: str | None = None
    source: str | None = "qna"

    @property
    def no_answer(self) -> bool:
        return self.source is None

    def matches(self, qid: str | None, source: str | None) -> bool:
        """True when an answer with this qid and source is what was expected."""
        if self.no_answer:
            return qid is None and source in (None, "no_hits")
        if self.qid is not None:
            return qid == self.qid
        return source == self.source


@dataclass(frozen=True)
class LlmCheck:
    """What a turn checks of the LLM: ``rewrite`` True (needs the history), False (must not be
    rewritten) or None (not checked); ``cite`` (a generated, cited answer)."""

    rewrite: bool | None = None
    cite: bool = False


@dataclass(frozen=True)
class EvalTurn:
    question: str
    expected: Expected
    llm: LlmCheck | None = None


def _parse_llm_check(raw: object, where: str) -> LlmCheck | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"rewrite", "cite"}:
        raise EvalFileError(f'{where}: "llm" must be an object with "rewrite" and/or "cite"')
    rewrite, cite = raw.get("rewrite"), raw.get("cite", False)
    if rewrite not in (None, True, False) or cite not in (True, False):
        raise EvalFileError(f'{where}: "llm" values must be true or false')
    return LlmCheck(rewrite, cite)


@dataclass(frozen=True)
class Conversation:
    id: str
    category: str
    turns: tuple[EvalTurn, ...]


def _parse_expected(raw: object, where: str) -> Expected:
    if not isinstance(raw, dict):
        raise EvalFileError(f"{where}: expect must be an object")
    if raw.get("no_answer") is True:
        return Expected(qid=None, source=None)
    source = raw.get("source", "qna")
    if source not in SOURCES:
        raise EvalFileError(f"{where}: source must be one of {', '.join(SOURCES)}")
    qid = raw.get("qid")
    if qid is None and source in ("qna", "text"):
        raise EvalFileError(f'{where}: expect needs a "qid" for source {source}')
    return Expected(qid=qid, source=source)


def load_conversations(path: Path) -> list[Conversation]:
    """Read a labeled JSON Lines file; raises :class:`EvalFileError` naming the bad line."""
    conversations = []
    try:
        lines = path.read_text("utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalFileError(f"cannot read {path}: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalFileError(f"{where}: not JSON ({exc.msg})") from None
        turns = raw.get("turns") if isinstance(raw, dict) else None
        if not isinstance(turns, list) or not turns:
            raise EvalFileError(f'{where}: needs a non-empty "turns" list')
        parsed = []
        for index, turn in enumerate(turns, start=1):
            if not isinstance(turn, dict) or not str(turn.get("q", "")).strip():
                raise EvalFileError(f'{where}: turn {index} needs a question "q"')
            parsed.append(EvalTurn(
                turn["q"], _parse_expected(turn.get("expect"), f"{where} turn {index}"),
                _parse_llm_check(turn.get("llm"), f"{where} turn {index}")))
        conversations.append(Conversation(str(raw.get("id", f"line-{number}")),
                                          str(raw.get("category", "")), tuple(parsed)))
    return conversations


@dataclass
class Evidence:
    """What the store returned for one query: candidates per stage, and the query vector
    (None in keyword mode)."""

    stages: dict[SearchField, list[FieldMatch]]
    vector: np.ndarray | None = None

    def qids(self) -> set[str]:
        return {m.qid for matches in self.stages.values() for m in matches}


@dataclass
class RecordedTurn:
    """One turn's question with the store's evidence for every stage.

    ``contextual`` holds the evidence for "previous question + this question", recorded when
    the question reads as a follow-up, for the matcher's contextual retry.
    """

    conversation: Conversation
    turn: EvalTurn
    matches: Evidence
    contextual_query: str = ""
    contextual: Evidence | None = None


@dataclass
class Recording:
    """Evidence for every turn, the items it mentions, and the classifier of the knowledge
    base when it was recorded (None: untrained)."""

    mode: MatchMode
    conversations: list[list[RecordedTurn]]
    items: dict[str, Item]
    classifier: ItemClassifier | None = None


ALL_STAGES = (SearchField.QUESTIONS, SearchField.ANSWERS, SearchField.PASSAGES)


def record(kb: KnowledgeBase, conversations: Sequence[Conversation], settings: Settings,
           mode: MatchMode = "hybrid",
           on_progress: Callable[[int], object] | None = None) -> Recording:
    """Search every turn once, in every stage, and keep the evidence for replays.

    ``on_progress`` is called with 1 after each turn is searched (for a progress bar).

    Raises :class:`~knowledge.store.DimensionMismatchError` when the stored vectors come from
    another embeddings model, as a search would.
    """
    kb.check_index()
    kb.wait_for_classifier()  # evaluate the model turns will use once training is done
    params = MatchParams.from_settings(settings, mode)
    queries: list[tuple[str, str]] = []  # (question, contextual query or "")
    for conversation in conversations:
        previous = ""
        for turn in conversation.turns:
            contextual = f"{previous} {turn.question}" if (
                previous and needs_context(turn.question)) else ""
            queries.append((turn.question, contextual))
            previous = turn.question
    texts = sorted({text for pair in queries for text in pair if text})
    vectors = (dict(zip(texts, kb.embeddings.embed(texts, "q"), strict=True))
               if mode != "keywords" else {})

    def evidence(text: str) -> Evidence:
        vector = vectors.get(text)
        return Evidence(
            {stage: kb.matcher.retrieve(stage, text, vector, params) for stage in ALL_STAGES},
            vector)

    recorded, qids, position = [], set(), 0
    for conversation in conversations:
        turns = []
        for turn in conversation.turns:
            _, contextual_query = queries[position]
            position += 1
            entry = RecordedTurn(conversation, turn, evidence(turn.question), contextual_query,
                                 evidence(contextual_query) if contextual_query else None)
            qids.update(entry.matches.qids())
            if entry.contextual is not None:
                qids.update(entry.contextual.qids())
            turns.append(entry)
            if on_progress is not None:
                on_progress(1)
        recorded.append(turns)
    return Recording(mode, recorded, kb.store.get_many(sorted(qids)), kb.classifier.current())


@dataclass
class TurnOutcome:
    """What one turn got, next to what it should have got."""

    conversation_id: str
    category: str
    question: str
    expected: Expected
    qid: str | None
    source: str | None  # "qna", "text", ..., or "no_hits"
    score: float | None
    ranked_qids: list[str] = field(default_factory=list)
    latency_ms: float | None = None
    llm_calls: int = 0
    llm_ms: float = 0.0  # time spent in LLM calls
    rewritten: str = ""  # the LLM's standalone question, when it differs from the question
    generated: bool = False  # the answer was generated by the LLM
    citations: int = 0
    llm: LlmCheck | None = None
    confidence: float | None = None  # the answer's confidence (None: no answer, or keywords)
    #: The most confident candidate of the turn (answering or not) and its confidence: what a
    #: reliability table compares with the label.
    top_qid: str | None = None
    top_confidence: float | None = None
    #: The items offered as "did you mean" buttons when the turn got no answer.
    suggested: tuple[str, ...] = ()

    @property
    def correct(self) -> bool:
        return self.expected.matches(self.qid, self.source)

    @property
    def answered(self) -> bool:
        return self.qid is not None or self.source not in (None, "no_hits")

    @property
    def reciprocal_rank(self) -> float:
        if self.expected.qid is None or self.expected.qid not in self.ranked_qids:
            return 0.0
        return 1.0 / (self.ranked_qids.index(self.expected.qid) + 1)


_STAGE_SOURCE = {SearchField.QUESTIONS: "qna", SearchField.ANSWERS: "qna",
                 SearchField.PASSAGES: "text"}


def _decide(query: str, evidence: Evidence, recording: Recording, params: MatchParams,
            topic: str) -> tuple[list[Hit], Hit | None]:
    """The cascade over recorded evidence: all ranked hits, and the answer if any."""
    ranked = decide(query, evidence.vector, evidence.stages, recording.items, params, topic,
                    recording.classifier)
    return ranked, next((hit for hit in ranked if hit.passed), None)


def replay(recording: Recording, params: MatchParams) -> list[TurnOutcome]:
    """Run the cascade over recorded evidence under ``params``, carrying topics between turns."""
    params = replace(params, mode=recording.mode) if recording.mode == "keywords" else params
    outcomes = []
    for turns in recording.conversations:
        topic = ""
        for recorded in turns:
            ranked, best = _decide(recorded.turn.question, recorded.matches, recording,
                                   params, topic)
            if best is None and recorded.contextual is not None:
                contextual_ranked, best = _decide(recorded.contextual_query, recorded.contextual,
                                                  recording, params, topic)
                if best is not None:
                    ranked = contextual_ranked
            topic = best.item.topic if best else ""
            top = max((h for h in ranked if h.confidence is not None),
                      key=lambda h: h.confidence, default=None)
            outcomes.append(TurnOutcome(
                conversation_id=recorded.conversation.id,
                category=recorded.conversation.category,
                question=recorded.turn.question,
                expected=recorded.turn.expected,
                qid=best.item.qid if best else None,
                source=_STAGE_SOURCE[best.stage] if best else "no_hits",
                score=best.score if best else None,
                ranked_qids=list(dict.fromkeys(h.item.qid for h in ranked)),
                confidence=best.confidence if best else None,
                top_qid=top.item.qid if top else None,
                top_confidence=top.confidence if top else None,
                suggested=() if best else tuple(s.qid for s in suggestions_for(ranked, params)),
            ))
    return outcomes


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def summarize(outcomes: Iterable[TurnOutcome], *, by_category: bool = True) -> dict:
    """The quality figures of a set of turns.

    * ``accuracy``: top-1 accuracy on answerable turns (the right item, or the right source);
    * ``mrr``: mean reciprocal rank of the expected qid among the candidates;
    * ``wrong_rate``: share of all turns answered with something other than expected;
    * ``no_hit_precision`` / ``no_hit_recall``: of the turns given no answer, how many should
      have had none; of the turns that should have had none, how many got none;
    * ``overall``: share of all turns handled right (answered right, or rightly not answered);
    * ``suggested_right``: share of answerable turns given no answer but the expected item
      among the "did you mean" buttons (one tap away); ``off_topic_suggested``: share of the
      turns that should have no answer that were offered buttons all the same.
    """
    outcomes = list(outcomes)
    answerable = [o for o in outcomes if not o.expected.no_answer]
    unanswerable = [o for o in outcomes if o.expected.no_answer]
    not_answered = [o for o in outcomes if not o.answered]
    true_no_hits = sum(1 for o in not_answered if o.expected.no_answer)
    summary = {
        "turns": len(outcomes),
        "answerable": len(answerable),
        "accuracy": _ratio(sum(o.correct for o in answerable), len(answerable)),
        "mrr": round(statistics.fmean(o.reciprocal_rank for o in answerable), 4)
        if answerable else None,
        "wrong_rate": _ratio(sum(1 for o in outcomes if o.answered and not o.correct),
                             len(outcomes)),
        "no_hit_precision": _ratio(true_no_hits, len(not_answered)),
        "no_hit_recall": _ratio(true_no_hits, len(unanswerable)),
        "overall": _ratio(sum(o.correct for o in outcomes), len(outcomes)),
        "suggested_right": _ratio(sum(1 for o in answerable if not o.answered
                                      and o.expected.qid in o.suggested), len(answerable)),
        "off_topic_suggested": _ratio(sum(1 for o in unanswerable if o.suggested),
                                      len(unanswerable)),
    }
    latencies = sorted(o.latency_ms for o in outcomes if o.latency_ms is not None)
    if latencies:
        summary["latency_ms"] = {
            "median": round(statistics.median(latencies), 2),
            "p95": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 2),
        }
        summary["llm_calls_per_turn"] = round(
            statistics.fmean(o.llm_calls for o in outcomes), 3)
    llm = summarize_llm(outcomes)
    if llm is not None:
        summary["llm"] = llm
    if by_category:
        groups: dict[str, list[TurnOutcome]] = defaultdict(list)
        for outcome in outcomes:
            groups[outcome.category or "-"].append(outcome)
        summary["by_category"] = {
            name: {"turns": len(group), "overall": _ratio(sum(o.correct for o in group),
                                                          len(group))}
            for name, group in sorted(groups.items())
        }
    return summary


def summarize_llm(outcomes: Iterable[TurnOutcome]) -> dict | None:
    """The generative features' figures, over the turns that carry ``llm`` checks (None when
    none does):

    * ``follow_up_hit_rate``: follow-ups needing the history answered with the expected item
      (the rewrite's retrieval hit), and ``follow_ups_rewritten``: how many got a rewrite;
    * ``self_contained_kept``: self-contained questions left as they were;
    * ``cited_rate``: passage questions answered by the LLM from the expected passage, cited;
    * ``no_hit_rate``: turns without an answer in the content that got none (the LLM said it
      does not know, or nothing matched);
    * ``llm_calls_per_turn`` and ``llm_ms_per_call`` (median and p95), over every turn.
    """
    outcomes = list(outcomes)
    if not any(o.llm is not None for o in outcomes):
        return None
    follow_ups = [o for o in outcomes if o.llm and o.llm.rewrite is True]
    standalone = [o for o in outcomes if o.llm and o.llm.rewrite is False]
    cited = [o for o in outcomes if o.llm and o.llm.cite]
    no_answer = [o for o in outcomes if o.expected.no_answer]
    calls = sum(o.llm_calls for o in outcomes)
    per_call = sorted(o.llm_ms / o.llm_calls for o in outcomes if o.llm_calls)
    return {
        "follow_ups": len(follow_ups),
        "follow_up_hit_rate": _ratio(sum(o.correct for o in follow_ups), len(follow_ups)),
        "follow_ups_rewritten": sum(1 for o in follow_ups if o.rewritten),
        "self_contained": len(standalone),
        "self_contained_kept": _ratio(sum(1 for o in standalone if not o.rewritten),
                                      len(standalone)),
        "cite_turns": len(cited),
        "cited_rate": _ratio(sum(1 for o in cited if o.correct and o.generated and o.citations),
                             len(cited)),
        "no_answer_turns": len(no_answer),
        "no_hit_rate": _ratio(sum(o.correct for o in no_answer), len(no_answer)),
        "llm_calls": calls,
        "llm_calls_per_turn": round(calls / len(outcomes), 3) if outcomes else None,
        "llm_ms_per_call": {
            "median": round(statistics.median(per_call), 1),
            "p95": round(per_call[min(len(per_call) - 1, int(0.95 * len(per_call)))], 1),
        } if per_call else None,
    }
