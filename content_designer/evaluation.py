"""Ask every question and check it finds its own item: the designer's "test all" job.

A :class:`LabeledQuestion` pairs a question with the qid that should answer it (and the client
filter to ask it with). :func:`evaluate` runs each through a search function and reports which
found their qid. A question that several items share word for word (a generic "How much does
it cost?" under two topics) cannot pick one item without a topic: when another of its items
answers, the outcome is ``ambiguous``, expected, and not a miss. A client-filtered item's
questions are asked as its first client would ask them. The job's search
function, :func:`knowledge_base_search`, asks each question as a new Lex conversation through
the fulfillment handler's steps with :class:`fulfillment.evaluation.ConversationRunner`, the
same runner ``qnabot eval`` uses, so "test all" and ``qnabot eval`` answer alike.

Example:
    >>> cases = [LabeledQuestion("Hello", "Hi.1"), LabeledQuestion("Bye", "Bye.1")]
    >>> report = evaluate(lambda q: ("Hi.1", 0.9, "questions"), cases)
    >>> report.correct, report.total, [o.status for o in report.outcomes]
    (1, 2, ['correct', 'missed'])
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from fulfillment.evaluation import ConversationRunner
from knowledge.evaluation import Conversation, EvalTurn, Expected
from knowledge.items import Item
from knowledge.knowledge_base import KnowledgeBase
from knowledge.settings import Settings

#: What a search returns for evaluation: (qid answered, its score, its source: ``qna`` or
#: ``text``), or None when the bot gave no answer from the knowledge base.
Found = tuple[str, float, str] | None
#: Asks a question (with a client filter or None) and says what the bot answered.
SearchFunction = Callable[..., Found]


@dataclass(frozen=True)
class LabeledQuestion:
    """A question, the qid that should answer it, and the client filter to ask it with.

    ``shared_with`` names the other items that hold the same question word for word.
    """

    question: str
    qid: str
    client: str | None = None
    shared_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What one question found."""

    question: str
    expected_qid: str
    found_qid: str | None
    score: float | None
    stage: str | None  # where the answer came from: qna or text (kept name for the API)
    shared_with: tuple[str, ...] = ()
    client: str | None = None

    @property
    def ok(self) -> bool:
        """The expected item answered ("" expects no answer from the knowledge base)."""
        return (self.found_qid or "") == self.expected_qid

    @property
    def status(self) -> str:
        """``correct``; ``ambiguous`` (an item sharing the question answered); or ``missed``."""
        if self.ok:
            return "correct"
        return "ambiguous" if self.found_qid in self.shared_with else "missed"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "shared_with": list(self.shared_with), "ok": self.ok,
                "status": self.status}


@dataclass
class EvaluationReport:
    """Every outcome, and the share that found their own qid."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.outcomes)

    @property
    def correct(self) -> int:
        return sum(o.ok for o in self.outcomes)

    @property
    def ambiguous(self) -> int:
        return sum(o.status == "ambiguous" for o in self.outcomes)

    @property
    def missed(self) -> int:
        return self.total - self.correct - self.ambiguous

    @property
    def accuracy(self) -> float:
        """Correct answers among the questions that have one right answer."""
        clear = self.total - self.ambiguous
        return self.correct / clear if clear else 0.0

    def to_json(self, *, misses_only: bool = False) -> dict[str, Any]:
        shown = [o for o in self.outcomes if not (misses_only and o.ok)]
        return {"total": self.total, "correct": self.correct, "ambiguous": self.ambiguous,
                "missed": self.missed, "accuracy": round(self.accuracy, 4),
                "outcomes": [o.to_json() for o in shown]}


def _question_key(text: str) -> str:
    return " ".join(text.casefold().strip(" ?!.").split())


def questions_of(items: Iterable[Item], *, topic: str | None = None,
                 client: str | None = None) -> Iterator[LabeledQuestion]:
    """Each question of each QnA item, labeled with the item's qid.

    ``topic`` keeps the items of that topic; ``client`` the items that client sees (no
    ``clientFilterValues``, or that value among them), asked with that filter. Without
    ``client``, a client-filtered item is asked with its first value.
    """
    chosen = [item for item in items
              if (topic is None or item.topic == topic)
              and (client is None or not item.client_filter_values
                   or client in item.client_filter_values)]
    owners: dict[str, set[str]] = {}
    for item in chosen:
        for question in item.questions:
            owners.setdefault(_question_key(question), set()).add(item.qid)
    for item in chosen:
        asked_as = client if client is not None else (
            item.client_filter_values[0] if item.client_filter_values else None)
        for question in item.questions:
            shared = tuple(sorted(owners[_question_key(question)] - {item.qid}))
            yield LabeledQuestion(question, item.qid, asked_as, shared)


def labeled_from_json(value: Any) -> list[LabeledQuestion]:
    """Questions from one record of a labeled file: a QnABot item (``qid`` and ``q``),
    ``{"question": ..., "qid": ...}``, or a conversation of ``qnabot eval``'s format (its first
    turn: later turns lean on the earlier ones; ``qnabot eval`` runs them whole). A turn that
    expects no answer is labeled with the qid "". Anything else gives no question.

    >>> labeled_from_json({"qid": "A.1", "q": ["One", "Two"], "a": "x"})[1]
    LabeledQuestion(question='Two', qid='A.1', client=None, shared_with=())
    >>> labeled_from_json({"turns": [{"q": "Hi", "expect": {"no_answer": True}}]})[0].qid
    ''
    """
    if isinstance(value, dict) and isinstance(value.get("turns"), list) and value["turns"]:
        first = value["turns"][0]
        if not isinstance(first, dict) or not isinstance(first.get("q"), str):
            return []
        expect = first.get("expect") if isinstance(first.get("expect"), dict) else {}
        qid = "" if expect.get("no_answer") is True else expect.get("qid")
        return [LabeledQuestion(first["q"], qid)] if isinstance(qid, str) else []
    if not isinstance(value, dict) or not isinstance(value.get("qid"), str):
        return []
    questions = value.get("q") if isinstance(value.get("q"), list) else [value.get("question")]
    return [LabeledQuestion(q, value["qid"]) for q in questions if isinstance(q, str) and q.strip()]


def knowledge_base_search(kb: KnowledgeBase, settings: Settings) -> SearchFunction:
    """The bot's answer to a question asked as a new conversation, as a :data:`SearchFunction`.

    The question goes through the fulfillment turn pipeline over ``kb`` with ``settings``
    (cascade, thresholds, no_hits; no LLM), by the runner ``qnabot eval`` uses; a client
    filter goes in the session attribute the Lex Web UI sets.
    """
    from fulfillment.pipeline import CLIENT_FILTER_ATTRIBUTE

    runner = ConversationRunner.over(kb, settings)

    def search(question: str, client: str | None = None) -> Found:
        conversation = Conversation("test-all", "", (EvalTurn(question, Expected()),))
        attributes = {CLIENT_FILTER_ATTRIBUTE: client} if client else {}
        session_id = f"test-all-{uuid.uuid4().hex[:12]}"  # a new conversation each time
        outcome, _ = runner.run_turn(conversation, conversation.turns[0], session_id,
                                     attributes)
        if outcome.qid is None:
            return None
        return outcome.qid, outcome.score if outcome.score is not None else 0.0, \
            outcome.source or ""
    return search


def evaluate(search: SearchFunction, cases: Iterable[LabeledQuestion],
             on_progress: Callable[[int], None] | None = None) -> EvaluationReport:
    """Run every case through ``search``; ``on_progress`` gets 1 after each question."""
    report = EvaluationReport()
    for case in cases:
        found = search(case.question, case.client) if case.client else search(case.question)
        qid, score, stage = found if found else (None, None, None)
        report.outcomes.append(Outcome(case.question, case.qid, qid, score, stage,
                                       case.shared_with, case.client))
        if on_progress:
            on_progress(1)
    return report
