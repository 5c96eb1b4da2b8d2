"""Ask every question and check it finds its own item: the designer's "test all" job.

A :class:`LabeledQuestion` pairs a question with the qid that should answer it. :func:`evaluate`
runs each through a search function and reports which found their qid. The job's search
function, :func:`knowledge_base_search`, asks each question as a new Lex conversation through
the fulfillment handler's steps with :class:`fulfillment.evaluation.ConversationRunner`, the
same runner ``qnabot eval`` uses, so "test all" and ``qnabot eval`` answer alike.

Example:
    >>> cases = [LabeledQuestion("Hello", "Hi.1"), LabeledQuestion("Bye", "Bye.1")]
    >>> report = evaluate(lambda q: ("Hi.1", 0.9, "questions"), cases)
    >>> report.correct, report.total, [o.ok for o in report.outcomes]
    (1, 2, [True, False])
"""

from __future__ import annotations

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
SearchFunction = Callable[[str], Found]


@dataclass(frozen=True)
class LabeledQuestion:
    """A question and the qid that should answer it."""

    question: str
    qid: str


@dataclass(frozen=True)
class Outcome:
    """What one question found."""

    question: str
    expected_qid: str
    found_qid: str | None
    score: float | None
    stage: str | None  # where the answer came from: qna or text (kept name for the API)

    @property
    def ok(self) -> bool:
        return self.found_qid == self.expected_qid

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


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
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def to_json(self, *, misses_only: bool = False) -> dict[str, Any]:
        shown = [o for o in self.outcomes if not (misses_only and o.ok)]
        return {"total": self.total, "correct": self.correct,
                "accuracy": round(self.accuracy, 4),
                "outcomes": [o.to_json() for o in shown]}


def questions_of(items: Iterable[Item]) -> Iterator[LabeledQuestion]:
    """Each question of each QnA item, labeled with the item's qid."""
    for item in items:
        for question in item.questions:
            yield LabeledQuestion(question, item.qid)


def labeled_from_json(value: Any) -> list[LabeledQuestion]:
    """Questions from one record of a labeled file: a QnABot item (``qid`` and ``q``), or
    ``{"question": ..., "qid": ...}``. Anything else gives no question.

    >>> labeled_from_json({"qid": "A.1", "q": ["One", "Two"], "a": "x"})[1]
    LabeledQuestion(question='Two', qid='A.1')
    """
    if not isinstance(value, dict) or not isinstance(value.get("qid"), str):
        return []
    questions = value.get("q") if isinstance(value.get("q"), list) else [value.get("question")]
    return [LabeledQuestion(q, value["qid"]) for q in questions if isinstance(q, str) and q.strip()]


def knowledge_base_search(kb: KnowledgeBase, settings: Settings) -> SearchFunction:
    """The bot's answer to a question asked as a new conversation, as a :data:`SearchFunction`.

    The question goes through the fulfillment turn pipeline over ``kb`` with ``settings``
    (cascade, thresholds, no_hits; no LLM), by the runner ``qnabot eval`` uses.
    """
    runner = ConversationRunner.over(kb, settings)

    def search(question: str) -> Found:
        conversation = Conversation("test-all", "", (EvalTurn(question, Expected()),))
        outcome = runner.run([conversation])[0]
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
        found = search(case.question)
        qid, score, stage = found if found else (None, None, None)
        report.outcomes.append(Outcome(case.question, case.qid, qid, score, stage))
        if on_progress:
            on_progress(1)
    return report
