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
    assert labeled_from_json({"id": "c1", "turns": [{"q": "Fare?", "expect": {"qid": "F.1"}},
                                                    {"q": "And kids?"}]}) == [
        LabeledQuestion("Fare?", "F.1")]


def test_a_question_shared_by_items_is_ambiguous_not_missed_when_a_sharer_answers():
    items = [parse_item({"qid": "Ferry.Cost", "q": ["How much does it cost?"], "a": "$2", "t": "ferry"}),
             parse_item({"qid": "Bus.Cost", "q": ["How much does it cost?"], "a": "$1", "t": "bus"}),
             parse_item({"qid": "Bus.Wifi", "q": ["Is there wifi?"], "a": "Yes", "t": "bus"})]
    report = evaluate(lambda q: ("Bus.Cost", 0.9, "qna") if "cost" in q else None,
                      questions_of(items))
    assert [o.status for o in report.outcomes] == ["ambiguous", "correct", "missed"]
    assert (report.correct, report.ambiguous, report.missed) == (1, 1, 1)
    assert report.accuracy == 0.5  # ambiguous questions have no single right answer


def test_topic_and_client_filters_choose_the_items_and_how_they_are_asked():
    items = [parse_item({"qid": "A", "q": ["a?"], "a": "x", "t": "bus"}),
             parse_item({"qid": "B", "q": ["b?"], "a": "x", "t": "bus", "clientFilterValues": "web"}),
             parse_item({"qid": "C", "q": ["c?"], "a": "x", "t": "ferry", "clientFilterValues": "app"})]
    assert [(c.qid, c.client) for c in questions_of(items, topic="bus")] == [("A", None), ("B", "web")]
    assert [(c.qid, c.client) for c in questions_of(items, client="app")] == [("A", "app"), ("C", "app")]
    asked = []
    evaluate(lambda q, client=None: asked.append((q, client)), questions_of(items, topic="ferry"))
    assert asked == [("c?", "app")]  # a client-filtered item is asked as its client would
