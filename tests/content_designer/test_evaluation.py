"""The shared "test all" core: each question against its own qid."""

from __future__ import annotations

from content_designer.evaluation import (
    LabeledQuestion,
    evaluate,
    labeled_from_json,
    questions_of,
)
from knowledge.items import parse_item


def test_every_question_of_every_qna_item_is_asked_for_its_own_qid():
    items = [parse_item({"qid": "A.1", "q": ["One", "Uno"], "a": "1"}),
             parse_item({"qid": "P.1", "type": "text", "passage": "A passage."})]
    assert list(questions_of(items)) == [LabeledQuestion("One", "A.1"),
                                         LabeledQuestion("Uno", "A.1")]


def test_evaluation_counts_hits_misses_and_no_answers_and_reports_progress():
    answers = {"One": ("A.1", 0.9, "questions"), "Two": ("B.1", 0.7, "questions")}
    progress = []
    report = evaluate(answers.get, [LabeledQuestion("One", "A.1"), LabeledQuestion("Two", "A.1"),
                                    LabeledQuestion("Three", "C.1")], on_progress=progress.append)
    assert (report.total, report.correct) == (3, 1)
    assert [o.found_qid for o in report.outcomes] == ["A.1", "B.1", None]
    assert report.to_json(misses_only=True)["outcomes"][0]["question"] == "Two"
    assert sum(progress) == 3


def test_an_empty_run_has_zero_accuracy_rather_than_an_error():
    assert evaluate(lambda q: None, []).accuracy == 0.0


def test_labeled_records_are_items_or_question_qid_pairs_and_others_are_skipped():
    assert labeled_from_json({"question": "Hi?", "qid": "H.1"}) == [LabeledQuestion("Hi?", "H.1")]
    assert labeled_from_json({"qid": "H.1", "q": ["a", "", 3]}) == [LabeledQuestion("a", "H.1")]
    assert labeled_from_json(["not", "a", "record"]) == []
    assert labeled_from_json({"question": "no qid"}) == []
