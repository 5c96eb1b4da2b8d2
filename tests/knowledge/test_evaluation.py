"""Evaluation: labeled conversations, recorded evidence, replayed decisions, metrics."""

import json

import pytest

from knowledge.embeddings.hashing import HashingEmbeddings
from knowledge.evaluation import (
    EvalFileError,
    Expected,
    LlmCheck,
    TurnOutcome,
    load_conversations,
    record,
    replay,
    summarize,
    summarize_llm,
)
from knowledge.items import parse_item
from knowledge.knowledge_base import KnowledgeBase
from knowledge.matching import MatchParams
from knowledge.settings import Settings
from knowledge.stores.sqlite_store import SqliteStore

ITEMS = [
    {"qid": "Ferry.Hours", "q": ["What are the ferry hours?", "What are the hours?"], "a": "6 to 22.",
     "t": "ferry"},
    {"qid": "Card.Hours", "q": ["When is the card office open?", "What are the hours?"], "a": "9 to 5.",
     "t": "card"},
    {"qid": "Bikes.Bus", "q": ["Can I bring my bike on the bus?"], "a": "Yes, on the rack."},
    {"qid": "Policy.Pets", "type": "text", "passage": "Small pets ride free in closed carriers."},
]


def write_jsonl(path, conversations):
    path.write_text("\n".join(json.dumps(c) for c in conversations) + "\n")
    return path


@pytest.fixture
def kb(tmp_path):
    kb = KnowledgeBase(SqliteStore(tmp_path / "k.sqlite"), HashingEmbeddings(dimension=256))
    kb.put_items([parse_item(raw) for raw in ITEMS])
    return kb


SETTINGS = Settings.defaults().with_overrides(EMBEDDINGS_SCORE_THRESHOLD=0.5,
                                              EMBEDDINGS_TEXT_PASSAGE_SCORE_THRESHOLD=0.3)


def test_loading_reports_the_bad_line(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text('{"id": "a", "turns": [{"q": "hi", "expect": {"qid": "X"}}]}\n{"id": "b"}\n')
    with pytest.raises(EvalFileError, match=r"eval.jsonl:2: needs a non-empty \"turns\" list"):
        load_conversations(path)
    path.write_text('{"id": "a", "turns": [{"q": "hi", "expect": {"source": "web"}}]}\n')
    with pytest.raises(EvalFileError, match="source must be one of"):
        load_conversations(path)


def test_follow_ups_are_answered_through_the_topic_of_the_previous_answer(kb, tmp_path):
    path = write_jsonl(tmp_path / "eval.jsonl", [
        {"id": "f1", "category": "follow_up", "turns": [
            {"q": "What are the ferry hours?", "expect": {"qid": "Ferry.Hours"}},
            {"q": "What are the hours?", "expect": {"qid": "Ferry.Hours"}}]},
        {"id": "f2", "category": "follow_up", "turns": [
            {"q": "When is the card office open?", "expect": {"qid": "Card.Hours"}},
            {"q": "What are the hours?", "expect": {"qid": "Card.Hours"}}]},
    ])
    outcomes = replay(record(kb, load_conversations(path), SETTINGS), MatchParams.from_settings(SETTINGS))
    assert [o.qid for o in outcomes] == ["Ferry.Hours", "Ferry.Hours", "Card.Hours", "Card.Hours"]
    no_topic = MatchParams.from_settings(SETTINGS.with_overrides(TOPIC_BOOST=0))
    recording = record(kb, load_conversations(path), SETTINGS)
    assert sum(o.correct for o in replay(recording, no_topic)) == 3  # one follow-up now misses


def test_thresholds_replay_without_searching_again(kb, tmp_path):
    path = write_jsonl(tmp_path / "eval.jsonl", [
        {"id": "o1", "category": "off_topic", "turns": [{"q": "capital of Peru", "expect": {"no_answer": True}}]},
        {"id": "p1", "category": "passage", "turns": [
            {"q": "Can small pets ride in carriers?", "expect": {"source": "text", "qid": "Policy.Pets"}}]},
    ])
    recording = record(kb, load_conversations(path), SETTINGS)
    strict = replay(recording, MatchParams.from_settings(SETTINGS.with_overrides(
        EMBEDDINGS_SCORE_THRESHOLD=1, EMBEDDINGS_TEXT_PASSAGE_SCORE_THRESHOLD=1,
        CLASSIFIER_CONFIDENCE_THRESHOLD=1)))
    assert [o.source for o in strict] == ["no_hits", "no_hits"]
    default = replay(recording, MatchParams.from_settings(SETTINGS))
    assert default[0].qid is None and default[1].qid == "Policy.Pets" and default[1].source == "text"


def outcome(expected, qid, source="qna", ranked=()):
    return TurnOutcome("c", "cat", "q", expected, qid, source, 1.0, list(ranked))


def test_metrics_count_right_wrong_and_no_hits():
    outcomes = [
        outcome(Expected("A"), "A", ranked=["A", "B"]),          # right
        outcome(Expected("A"), "B", ranked=["B", "A"]),          # wrong, expected at rank 2
        outcome(Expected("A"), None, "no_hits", ranked=[]),      # missed
        outcome(Expected(None, None), None, "no_hits"),          # rightly no answer
        outcome(Expected(None, None), "C", ranked=["C"]),        # answered an off-topic question
    ]
    summary = summarize(outcomes)
    assert summary["accuracy"] == pytest.approx(1 / 3, abs=1e-4)
    assert summary["mrr"] == pytest.approx((1 + 0.5 + 0) / 3, abs=1e-4)
    assert summary["wrong_rate"] == pytest.approx(2 / 5)
    assert summary["no_hit_precision"] == pytest.approx(1 / 2)
    assert summary["no_hit_recall"] == pytest.approx(1 / 2)
    assert summary["overall"] == pytest.approx(2 / 5)


def test_an_expected_source_without_qid_accepts_any_item_of_that_source():
    assert Expected(None, "kendra").matches(None, "kendra")
    assert not Expected(None, "kendra").matches("A", "qna")


def test_replays_use_the_classifier_the_knowledge_base_had_when_recorded(kb, tmp_path):
    path = write_jsonl(tmp_path / "eval.jsonl", [
        {"id": "b1", "category": "paraphrase", "turns": [{"q": "bike on a bus", "expect": {"qid": "Bikes.Bus"}}]},
    ])
    recording = record(kb, load_conversations(path), SETTINGS)
    assert recording.classifier is not None and "Bikes.Bus" in recording.classifier.qids
    assert recording.conversations[0][0].matches.vector is not None


def test_llm_checks_are_read_from_the_labeled_file_and_bad_ones_name_the_turn(tmp_path):
    good = tmp_path / "llm.jsonl"
    good.write_text(json.dumps({"id": "l1", "turns": [
        {"q": "What is HarborBikes?", "expect": {"qid": "A"}},
        {"q": "Who runs it?", "expect": {"qid": "B"}, "llm": {"rewrite": True}},
        {"q": "How far?", "expect": {"source": "text", "qid": "P"}, "llm": {"cite": True}}]}))
    turns = load_conversations(good)[0].turns
    assert [t.llm for t in turns] == [None, LlmCheck(rewrite=True), LlmCheck(cite=True)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"turns": [{"q": "Hi", "expect": {"qid": "A"},
                                          "llm": {"rewrite": "yes"}}]}))
    with pytest.raises(EvalFileError, match=r"bad.jsonl:1 turn 1: .llm. values must be true"):
        load_conversations(bad)


def test_llm_figures_score_rewrites_kept_questions_citations_and_no_hits():
    def llm_outcome(expected, qid, source="qna", check=None, **fields):
        return TurnOutcome("c", "cat", "q", expected, qid, source, 1.0, llm=check, **fields)

    outcomes = [
        llm_outcome(Expected("B"), "B", check=LlmCheck(rewrite=True), rewritten="Who runs B?",
                    llm_calls=1, llm_ms=800.0),
        llm_outcome(Expected("C"), "A", check=LlmCheck(rewrite=True), llm_calls=1, llm_ms=400.0),
        llm_outcome(Expected("D"), "D", check=LlmCheck(rewrite=False), rewritten="D again?",
                    llm_calls=1, llm_ms=600.0),
        llm_outcome(Expected("P", "text"), "P", "text", check=LlmCheck(cite=True),
                    generated=True, citations=2, llm_calls=1, llm_ms=2000.0),
        llm_outcome(Expected("P", "text"), "P", "text", check=LlmCheck(cite=True)),  # as is
        llm_outcome(Expected(None, None), None, "no_hits", llm_calls=1, llm_ms=1000.0),
    ]
    figures = summarize_llm(outcomes)
    assert (figures["follow_up_hit_rate"], figures["follow_ups_rewritten"]) == (0.5, 1)
    assert figures["self_contained_kept"] == 0.0
    assert figures["cited_rate"] == 0.5
    assert figures["no_hit_rate"] == 1.0
    assert figures["llm_calls_per_turn"] == pytest.approx(5 / 6, abs=1e-3)
    assert figures["llm_ms_per_call"]["median"] == 800.0
    assert summarize(outcomes)["llm"] == figures
    assert summarize_llm([outcome(Expected("A"), "A")]) is None
