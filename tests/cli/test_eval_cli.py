"""``qnabot eval``: labeled conversations through the handler, a table or JSON, an exit bar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fulfillment import handler

ITEMS = [
    {"qid": "Ferry.About", "q": ["What is the Harbor Ferry?"], "a": "A boat across the bay.",
     "t": "ferry"},
    {"qid": "Ferry.Cost", "q": ["How much is the Harbor Ferry fare?", "How much does it cost?"],
     "a": "The ferry costs 4 dollars.", "t": "ferry"},
    {"qid": "Bus.Cost", "q": ["How much is the Night Bus fare?", "How much does it cost?"],
     "a": "The night bus costs 2 dollars.", "t": "bus"},
    {"qid": "CustomNoMatches", "q": ["no_hits"], "a": "Sorry, I don't know that."},
]


def write_jsonl(path: Path, *records: dict) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", "utf-8")
    return path


def turn(q: str, qid: str | None) -> dict:
    return {"q": q, "expect": {"qid": qid} if qid else {"no_answer": True}}


@pytest.fixture
def loaded(home, qnabot, monkeypatch, tmp_path):
    """A home with a few items; the handler rebuilt for it before and after."""
    monkeypatch.delenv("LLM_API", raising=False)
    monkeypatch.delenv("USERS_TABLE", raising=False)
    handler.set_service(None)
    items = write_jsonl(tmp_path / "items.jsonl", *ITEMS)
    assert qnabot("import", items).code == 0
    yield qnabot
    handler.set_service(None)


@pytest.fixture
def labeled(tmp_path) -> Path:
    """Three conversations: a follow-up, an off-topic question, and one wrong label."""
    return write_jsonl(
        tmp_path / "dev.jsonl",
        {"id": "f1", "category": "follow_up",
         "turns": [turn("What is the Harbor Ferry?", "Ferry.About"),
                   turn("How much does it cost?", "Ferry.Cost")]},
        {"id": "o1", "category": "off_topic", "turns": [turn("zebra quantum saxophone", None)]},
        {"id": "w1", "category": "paraphrase",
         "turns": [turn("How much is the Night Bus fare?", "Ferry.Cost")]})


def test_json_reports_accuracy_mrr_wrong_rate_no_hits_latency_and_each_turn(loaded, labeled):
    run = loaded("eval", labeled, "--json")
    assert run.code == 0, run.err
    data = json.loads(run.out)
    summary = data["summary"]
    assert (summary["turns"], summary["answerable"]) == (4, 3)
    assert summary["accuracy"] == pytest.approx(2 / 3, abs=1e-3)
    assert summary["wrong_rate"] == 0.25
    assert (summary["no_hit_precision"], summary["no_hit_recall"]) == (1.0, 1.0)
    assert 0 < summary["mrr"] < 1
    assert summary["latency_ms"]["p95"] >= summary["latency_ms"]["median"] > 0
    assert summary["llm_calls_per_turn"] == 0
    assert summary["by_topic"]["ferry"]["turns"] == 3
    assert [t["qid"] for t in data["turns"]] == ["Ferry.About", "Ferry.Cost", None, "Bus.Cost"]
    assert data["turns"][1]["correct"]  # the follow-up got its topic from the first answer


def test_the_table_shows_the_figures_categories_topics_and_wrong_turns(loaded, labeled):
    run = loaded("eval", labeled)
    assert run.code == 0, run.err
    for text in ("accuracy (answerable turns, top-1)", "MRR", "no-hit recall",
                 "latency median / p95", "By category", "follow_up", "By topic", "ferry",
                 "Wrong turns (1 of 1)", "How much is the Night Bus fare?"):
        assert text in run.out
    assert '"level"' not in run.out  # the handler's log records stay out of the report


def test_accuracy_below_the_bar_exits_with_status_1(loaded, labeled):
    assert loaded("eval", labeled, "--min-accuracy", "0.6").code == 0
    failed = loaded("eval", labeled, "--min-accuracy", "0.9")
    assert failed.code == 1
    assert "below --min-accuracy 0.9" in failed.err


def test_split_report_gives_each_file_its_own_figures(loaded, labeled, tmp_path):
    heldout = write_jsonl(tmp_path / "heldout.jsonl",
                          {"id": "h1", "turns": [turn("What is the Harbor Ferry?", "Ferry.About")]})
    data = json.loads(loaded("eval", labeled, heldout, "--split-report", "--json").out)
    assert data["summary"]["turns"] == 5
    assert {name: s["turns"] for name, s in data["splits"].items()} == {
        str(labeled): 4, str(heldout): 1}
    assert data["splits"][str(heldout)]["accuracy"] == 1.0
    table = loaded("eval", labeled, heldout, "--split-report").out
    assert str(heldout) in table.splitlines()[2]  # a column per file


def test_a_broken_labeled_file_is_a_user_error_naming_the_line(loaded, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"turns": [{"q": "Hi", "expect": {"qid": "A"}}]}\n{"turns": []}\n', "utf-8")
    run = loaded("eval", bad)
    assert run.code == 2
    assert f"{bad}:2" in run.err


def test_llm_checks_get_their_own_table_and_json_block(loaded, tmp_path):
    labeled = write_jsonl(tmp_path / "llm.jsonl", {"id": "l1", "turns": [
        turn("What is the Harbor Ferry?", "Ferry.About"),
        {**turn("How much is the Night Bus fare?", "Bus.Cost"), "llm": {"rewrite": False}}]})
    table = loaded("eval", labeled)
    assert table.code == 0, table.err
    assert "self-contained questions left as they were" in table.out
    assert "LLM DISABLED" in table.out
    data = json.loads(loaded("eval", labeled, "--json").out)
    assert data["llm"] == "DISABLED"
    assert data["summary"]["llm"]["self_contained_kept"] == 1.0
    assert data["turns"][1]["rewritten"] == ""


def test_evaluation_turns_stay_out_of_the_analytics(home, qnabot, monkeypatch, tmp_path):
    from fulfillment.metrics_sqlite import SqliteMetricsSink

    monkeypatch.setenv("QNABOT_METRICS", "sqlite")
    labeled = tmp_path / "labeled.jsonl"
    labeled.write_text('{"id": "a", "turns": [{"q": "Hello", "expect": {"no_answer": true}}]}\n',
                       encoding="utf-8")
    assert qnabot("eval", labeled).code in (0, 1)
    assert SqliteMetricsSink(home / "metrics.sqlite").turns() == []
