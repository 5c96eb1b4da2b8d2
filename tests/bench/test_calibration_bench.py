"""The calibration benchmark's distractors and reliability table."""

from __future__ import annotations

import pytest

from bench.calibration_bench import NOUNS, SETS, distractor_items, measure_set, reliability
from knowledge.evaluation import Expected, TurnOutcome, load_conversations


def test_distractors_are_the_same_every_run_and_a_bigger_set_extends_a_smaller_one():
    small, big = distractor_items(300, "second"), distractor_items(2_000, "second")
    assert [i.qid for i in big[:300]] == [i.qid for i in small]
    assert len({i.qid for i in big}) == 2_000
    assert [i.questions for i in distractor_items(2_000, "second")] == [i.questions for i in big]


def test_no_labeled_question_asks_about_what_an_off_domain_distractor_is_about():
    labeled = [turn.question.lower() for path in (*(files[1] for files in SETS.values()),
                                                  SETS["dev"][1].parent / "heldout.jsonl")
               for conversation in load_conversations(path) for turn in conversation.turns]
    assert not [(noun, q) for noun in NOUNS for q in labeled if noun in q]
    generated = [i for i in distractor_items(5_000, "dev") if i.qid.startswith("Distractor.")]
    assert len(generated) == 5_000 - len([i for i in distractor_items(5_000, "dev")
                                          if i.qid.startswith("Other.")])


def outcome(expected_qid, top_qid, confidence, answered_qid=None):
    return TurnOutcome("c", "x", "q", Expected(expected_qid) if expected_qid
                       else Expected(None, None), answered_qid,
                       "qna" if answered_qid else "no_hits", None,
                       top_qid=top_qid, top_confidence=confidence)


def test_a_confidence_that_matches_how_often_it_is_right_has_no_calibration_error():
    turns = ([outcome("A", "A", 0.95)] * 19 + [outcome("A", "B", 0.95)]  # 95% right at 0.95
             + [outcome("A", "A", 0.55)] + [outcome(None, "B", 0.55)])  # 50% right at 0.55
    table = reliability(turns)
    assert table["ece"] < 0.01
    top_bin = table["rows"][-1]
    assert (top_bin["turns"], top_bin["top_right"]) == (20, 0.95)


def test_an_overconfident_confidence_has_a_large_calibration_error():
    turns = [outcome("A", "A", 0.95), outcome("A", "B", 0.95), outcome(None, "B", 0.95)]
    assert reliability(turns)["ece"] > 0.5


@pytest.mark.slow
def test_answers_at_the_default_threshold_are_as_often_right_with_500_distractor_items(
        tmp_path):
    # The dev set against the demo knowledge base alone and with 500 distractors (3 training
    # batches): before training took one step per batch, 28% of the answers with distractors
    # were wrong against 8% alone (data/README.md, "Calibration across sizes").
    from knowledge.embeddings.base import EmbeddingsError
    from knowledge.embeddings.cache import CachedEmbeddings, SqliteEmbeddingCache
    from knowledge.embeddings.local import LocalEmbeddings

    local = LocalEmbeddings()
    try:
        local.embed(["warm up"])
    except EmbeddingsError as exc:
        pytest.skip(f"the local model is not exported: {exc}")
    embeddings = CachedEmbeddings(local, SqliteEmbeddingCache(tmp_path / "cache.sqlite"))
    alone, crowded = measure_set("dev", (0, 500), embeddings, tmp_path, log=lambda _: None)
    assert crowded["answered_right"] == pytest.approx(alone["answered_right"], abs=0.05)
    assert crowded["reliability"]["ece"] < 0.1
