"""The Harbor City Transit demo knowledge base and its labeled evaluation set hold together.

The evaluation set calibrates matching thresholds, so these tests protect its shape: every label
points at an item of the right kind, the category mix is what data/README.md promises, and
paraphrases never quote a stored question.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from knowledge.items import Item, parse_item

DATA = Path(__file__).resolve().parents[2] / "data"
QNA_FILE = DATA / "demo" / "hct-qna.json"
PASSAGES_FILE = DATA / "demo" / "hct-passages.json"
DEV_FILE = DATA / "eval" / "dev.jsonl"
HELDOUT_FILE = DATA / "eval" / "heldout.jsonl"

CATEGORIES = {"exact", "paraphrase", "near_miss", "follow_up", "off_topic", "passage"}
SPECIAL_QIDS = {"CustomNoMatches", "CustomErrorMessage"}

#: Items whose questions differ by a word or two but whose answers differ (see data/README.md).
NEAR_MISS_PAIRS = [
    ("Onboard.NextStop", "Onboard.PreviousStop"),
    ("Fares.MonthlyPass", "Fares.WeeklyPass"),
    ("Ferry.ServiceStatus", "BlueLine.ServiceStatus"),
    ("BlueLine.ServiceStatus", "GreenLine.ServiceStatus"),
    ("Bus.BikeRack", "Ferry.Bikes"),
    ("BlueLine.Bikes", "GreenLine.Bikes"),
    ("TideCard.AddMoney", "TideCard.Refund"),
    ("Bus.FirstBus", "Bus.LastBus"),
    ("Holiday.Christmas", "Holiday.ChristmasEve"),
    ("LostFound.Report", "LostFound.TurnIn"),
    ("TideCard.LostCard", "TideCard.Damaged"),
    ("Reduced.Seniors", "Reduced.Students"),
    ("Reduced.KidsFree", "Reduced.Youth"),
    ("Parking.Cost", "Ferry.Parking"),
    ("Pets.Dogs", "Access.ServiceAnimals"),
    ("Feedback.Complaint", "Feedback.Compliment"),
    ("Paratransit.Book", "Paratransit.Cancel"),
    ("Safety.Emergency", "Safety.NonEmergency"),
    ("Bikes.EBikes", "Scooters.OnBoard"),
    ("BlueLine.Frequency", "GreenLine.Frequency"),
]

#: Target share of turns per category, with the tolerance each may drift by.
CATEGORY_MIX = {
    "exact": (0.08, 0.03),
    "paraphrase": (0.35, 0.05),
    "near_miss": (0.12, 0.03),
    "follow_up": (0.15, 0.03),
    "off_topic": (0.15, 0.03),
    "passage": (0.15, 0.03),
}


# ------------------------------------------------------------------------------------ helpers
def _load_items(path: Path) -> list[Item]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return [parse_item(entry) for entry in raw["qna"]]


@cache
def qna_items() -> tuple[Item, ...]:
    return tuple(_load_items(QNA_FILE))


@cache
def passage_items() -> tuple[Item, ...]:
    return tuple(_load_items(PASSAGES_FILE))


@cache
def items_by_qid() -> dict[str, Item]:
    return {item.qid: item for item in (*qna_items(), *passage_items())}


def curated_items() -> list[Item]:
    """QnA items other than QnABot's special no_hits / error items."""
    return [item for item in qna_items() if item.qid not in SPECIAL_QIDS]


def normalize(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed: how we compare questions."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


@cache
def shared_questions() -> frozenset[str]:
    """Normalized questions stored on more than one item: the generic topic follow-ups."""
    counts = Counter(normalize(q) for item in curated_items() for q in set(item.questions))
    return frozenset(q for q, n in counts.items() if n > 1)


def _load_conversations(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@cache
def splits() -> dict[str, tuple[dict, ...]]:
    return {
        "dev": tuple(_load_conversations(DEV_FILE)),
        "heldout": tuple(_load_conversations(HELDOUT_FILE)),
    }


def all_conversations() -> list[dict]:
    return [conv for convs in splits().values() for conv in convs]


def all_turns(category: str | None = None) -> list[tuple[dict, dict]]:
    """(conversation, turn) pairs, optionally for one category."""
    return [
        (conv, turn)
        for conv in all_conversations()
        if category is None or conv["category"] == category
        for turn in conv["turns"]
    ]


def word_count(text: str) -> int:
    return len(text.split())


# ------------------------------------------------------------------------ knowledge base
def test_every_demo_item_is_a_valid_qnabot_item():
    # parse_item raises on the first invalid item; loading both files proves they all pass.
    assert len(qna_items()) + len(passage_items()) == len(items_by_qid())


def test_qids_are_unique_across_both_demo_files():
    qids = [item.qid for item in (*qna_items(), *passage_items())]
    assert len(qids) == len(set(qids))


def test_demo_files_have_the_promised_item_kinds_and_counts():
    assert all(item.kind == "qna" for item in qna_items())
    assert all(item.kind == "text" for item in passage_items())
    assert len(qna_items()) >= 160
    assert len(passage_items()) >= 22


def test_each_curated_item_has_two_to_four_distinct_questions():
    for item in curated_items():
        assert 2 <= len(item.questions) <= 4, item.qid
        assert len({normalize(q) for q in item.questions}) == len(item.questions), item.qid


def test_curated_answers_are_short_plain_text():
    for item in curated_items():
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", item.answer.strip()) if s]
        assert 1 <= len(sentences) <= 3, item.qid
        assert "**" not in item.answer and "<speak>" not in item.answer, item.qid


def test_about_half_the_items_have_markdown_and_about_twenty_have_ssml():
    items = qna_items()
    with_markdown = sum(1 for item in items if item.markdown)
    assert 0.4 <= with_markdown / len(items) <= 0.65
    with_ssml = [item for item in items if item.ssml]
    assert 18 <= len(with_ssml) <= 30
    for item in with_ssml:
        assert item.ssml.startswith("<speak>") and item.ssml.endswith("</speak>"), item.qid
        ElementTree.fromstring(item.ssml)  # well-formed, or Polly rejects it


def test_most_items_have_a_topic():
    items = curated_items()
    assert sum(1 for item in items if item.topic) / len(items) >= 0.9


def test_response_cards_link_to_questions_of_other_items():
    carded = [item for item in qna_items() if item.card]
    assert len(carded) >= 5
    questions_by_qid = {item.qid: {normalize(q) for q in item.questions} for item in qna_items()}
    for item in carded:
        assert item.card.title and item.card.image_url.startswith("https://example.org/img/")
        assert 1 <= len(item.card.buttons) <= 5, item.qid
        for button in item.card.buttons:
            assert len(button.text) <= 50, (item.qid, button.text)
            targets = [qid for qid, qs in questions_by_qid.items() if normalize(button.value) in qs]
            assert targets and item.qid not in targets, (item.qid, button.value)


def test_some_items_are_limited_to_a_client_filter():
    assert sum(1 for item in qna_items() if item.client_filter_values) >= 2


def test_qnabot_special_items_are_present():
    by_qid = items_by_qid()
    assert by_qid["CustomNoMatches"].questions == ("no_hits",)
    assert "555-0100" in by_qid["CustomNoMatches"].answer
    assert by_qid["CustomErrorMessage"].questions == ("error_msg",)


def test_generic_follow_up_questions_are_shared_across_topics():
    topics_per_question: dict[str, set[str]] = {}
    for item in curated_items():
        for q in item.questions:
            if normalize(q) in shared_questions():
                topics_per_question.setdefault(normalize(q), set()).add(item.topic)
    assert "how much does it cost" in topics_per_question
    assert "what are the hours" in topics_per_question
    for question, topics in topics_per_question.items():
        assert len(topics) >= 2 and "" not in topics, question
    follow_up_topics = set().union(*topics_per_question.values())
    assert len(follow_up_topics) >= 8


def test_a_generic_question_is_unique_within_its_topic():
    seen: dict[tuple[str, str], str] = {}
    for item in curated_items():
        for q in item.questions:
            key = (item.topic, normalize(q))
            assert key not in seen, f"{item.qid} and {seen.get(key)} share {q!r} in one topic"
            seen[key] = item.qid


def test_every_item_with_a_generic_question_also_names_its_subject():
    for item in curated_items():
        specific = [q for q in item.questions if normalize(q) not in shared_questions()]
        assert specific, item.qid


def test_near_miss_pairs_exist_and_answer_differently():
    assert len(NEAR_MISS_PAIRS) >= 12
    by_qid = items_by_qid()
    for first, second in NEAR_MISS_PAIRS:
        assert by_qid[first].kind == by_qid[second].kind == "qna"
        assert by_qid[first].answer != by_qid[second].answer


def test_passages_are_sized_sourced_and_topical():
    for item in passage_items():
        assert 80 <= word_count(item.passage) <= 250, item.qid
        assert re.fullmatch(r"\[[^\]]+\]\(https://example\.org/[^)]+\)", item.ref_markdown)
        assert item.topic, item.qid


# ------------------------------------------------------------------------ evaluation set
def test_conversation_ids_are_unique_across_splits():
    ids = [conv["id"] for conv in all_conversations()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"c\d{4}", conv_id) for conv_id in ids)


def test_conversations_have_the_documented_shape():
    for conv in all_conversations():
        assert set(conv) == {"id", "category", "turns"}, conv["id"]
        assert conv["category"] in CATEGORIES, conv["id"]
        assert conv["turns"], conv["id"]
        for turn in conv["turns"]:
            assert set(turn) == {"q", "expect"} and turn["q"].strip(), conv["id"]
            assert turn["expect"] in ({"no_answer": True},) or set(turn["expect"]) in (
                {"qid"},
                {"source", "qid"},
            ), conv["id"]


def test_there_are_enough_turns_split_about_three_to_one():
    turns = {name: sum(len(c["turns"]) for c in convs) for name, convs in splits().items()}
    total = sum(turns.values())
    assert total >= 430
    assert 0.20 <= turns["heldout"] / total <= 0.30


@pytest.mark.parametrize("split", ["dev", "heldout"])
def test_each_split_has_every_category(split):
    assert {conv["category"] for conv in splits()[split]} == CATEGORIES


def test_category_mix_by_turns_matches_the_readme():
    counts = Counter(conv["category"] for conv, _ in all_turns())
    total = sum(counts.values())
    for category, (share, tolerance) in CATEGORY_MIX.items():
        assert abs(counts[category] / total - share) <= tolerance, (category, counts[category])


def test_every_expected_item_exists_with_the_right_kind():
    by_qid = items_by_qid()
    for conv, turn in all_turns():
        expect = turn["expect"]
        if expect.get("no_answer"):
            assert conv["category"] == "off_topic", conv["id"]
            continue
        item = by_qid.get(expect["qid"])
        assert item is not None, (conv["id"], expect["qid"])
        assert expect.get("source", "text") == "text", conv["id"]  # "qna" is spelled by omission
        wanted = "text" if "source" in expect else "qna"
        assert item.kind == wanted, (conv["id"], expect["qid"])
        assert item.qid not in SPECIAL_QIDS and not item.client_filter_values, conv["id"]


def test_category_decides_the_kind_of_expectation():
    for conv, turn in all_turns():
        expect, category = turn["expect"], conv["category"]
        assert bool(expect.get("no_answer")) == (category == "off_topic"), conv["id"]
        assert (expect.get("source") == "text") == (category == "passage"), conv["id"]


def test_exact_turns_repeat_a_stored_question_of_the_expected_item():
    by_qid = items_by_qid()
    for conv, turn in all_turns("exact"):
        assert turn["q"] in by_qid[turn["expect"]["qid"]].questions, conv["id"]


def test_paraphrase_and_near_miss_turns_never_repeat_a_stored_question():
    stored = {normalize(q) for item in qna_items() for q in item.questions}
    for category in ("paraphrase", "near_miss", "off_topic", "passage"):
        for conv, turn in all_turns(category):
            assert normalize(turn["q"]) not in stored, (conv["id"], turn["q"])


def test_single_turn_categories_have_one_turn():
    for conv in all_conversations():
        if conv["category"] != "follow_up":
            assert len(conv["turns"]) == 1, conv["id"]


def test_near_miss_turns_target_a_member_of_a_near_miss_pair():
    members = {qid for pair in NEAR_MISS_PAIRS for qid in pair}
    for conv, turn in all_turns("near_miss"):
        assert turn["expect"]["qid"] in members, conv["id"]


def test_follow_up_conversations_name_the_subject_then_follow_up_on_it():
    by_qid = items_by_qid()
    for conv in all_conversations():
        if conv["category"] != "follow_up":
            continue
        assert 2 <= len(conv["turns"]) <= 3, conv["id"]
        first = conv["turns"][0]
        assert normalize(first["q"]) not in shared_questions(), conv["id"]
        for turn in conv["turns"]:
            assert by_qid[turn["expect"]["qid"]].kind == "qna", conv["id"]


def test_follow_ups_cover_at_least_eight_topics():
    by_qid = items_by_qid()
    topics = {by_qid[conv["turns"][0]["expect"]["qid"]].topic for conv, _ in all_turns("follow_up")}
    assert len(topics) >= 8


def test_every_passage_is_the_answer_to_some_passage_turn():
    asked = {turn["expect"]["qid"] for _, turn in all_turns("passage")}
    assert asked == {item.qid for item in passage_items()}
