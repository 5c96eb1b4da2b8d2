"""Threshold tuning: the sweep finds settings that trade wrong answers for right ones."""

import json
from dataclasses import replace

import pytest

from knowledge.embeddings.hashing import HashingEmbeddings
from knowledge.evaluation import load_conversations, record
from knowledge.items import parse_item
from knowledge.knowledge_base import KnowledgeBase
from knowledge.matching import MatchParams
from knowledge.settings import Settings, validate_updates
from knowledge.stores.sqlite_store import SqliteStore
from knowledge.tuning import SweepPoint, frontier, recommend, sweep

ITEMS = [
    {"qid": "Bikes.Bus", "q": ["Can I bring my bike on the bus?"], "a": "Yes, on the front rack."},
    {"qid": "Bikes.Ferry", "q": ["Can I bring my bike on the ferry?"], "a": "Yes, on the car deck."},
    {"qid": "Lost.Found", "q": ["Where is lost and found?"], "a": "At Central Station."},
]
TURNS = [
    ("bike on the bus", {"qid": "Bikes.Bus"}), ("ferry bike rules", {"qid": "Bikes.Ferry"}),
    ("I lost my umbrella, where is lost and found", {"qid": "Lost.Found"}),
    ("what is the capital of Peru", {"no_answer": True}), ("best pizza in town", {"no_answer": True}),
]


@pytest.fixture
def recording(tmp_path):
    kb = KnowledgeBase(SqliteStore(tmp_path / "k.sqlite"), HashingEmbeddings(dimension=256))
    kb.put_items([parse_item(raw) for raw in ITEMS])
    path = tmp_path / "eval.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"c{i}", "category": "x", "turns": [{"q": q, "expect": e}]})
                              for i, (q, e) in enumerate(TURNS)))
    return record(kb, load_conversations(path), Settings.defaults())


def test_the_recommendation_respects_the_wrong_answer_target(recording):
    points = sweep(recording, MatchParams.from_settings(Settings.defaults()),
                   question_thresholds=(0.1, 0.3, 0.5, 0.7, 0.9, 1.5), passage_thresholds=(0.5,))
    best = recommend(points, max_wrong_rate=0.0)
    assert best.summary["wrong_rate"] == 0.0
    assert best.summary["overall"] == max(p.summary["overall"] for p in points if p.summary["wrong_rate"] == 0)
    loose = min(points, key=lambda p: p.question_threshold)
    assert loose.summary["wrong_rate"] > 0  # answering everything answers off-topic questions


def test_one_more_right_turn_is_not_worth_more_wrong_answers(recording):
    params = MatchParams.from_settings(Settings.defaults())

    def point(right: int, wrong: int, confidence: float) -> SweepPoint:
        return SweepPoint(replace(params, confidence_threshold=confidence),
                          {"turns": 100, "overall": right / 100, "wrong_rate": wrong / 100})

    careful, bolder, boldest = point(60, 2, 0.8), point(61, 4, 0.6), point(62, 6, 0.5)

    assert recommend([careful, bolder, boldest], max_wrong_rate=0.05) is careful
    assert recommend([careful, bolder], max_wrong_rate=0.05) is careful
    assert recommend([point(58, 1, 0.9), bolder], max_wrong_rate=0.05) is bolder  # 3 turns


def test_recommended_settings_are_valid_settings(recording):
    points = sweep(recording, MatchParams.from_settings(Settings.defaults()),
                   question_thresholds=(0.3, 0.6), passage_thresholds=(0.5,))
    assert validate_updates(recommend(points, max_wrong_rate=0.2).settings())


def test_the_frontier_only_improves_as_more_wrong_answers_are_allowed(recording):
    points = sweep(recording, MatchParams.from_settings(Settings.defaults()),
                   question_thresholds=(0.1, 0.3, 0.5, 0.7, 0.9), passage_thresholds=(0.5,))
    edge = frontier(points)
    rates = [p.summary["wrong_rate"] for p in edge]
    overall = [p.summary["overall"] for p in edge]
    assert rates == sorted(rates) and overall == sorted(overall) and len(set(overall)) == len(overall)
