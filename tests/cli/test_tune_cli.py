"""`qnabot tune`: recommends matching settings from a labeled file, and can apply them."""

import json

from tests.builders import qna_raw

ITEMS = [qna_raw("Bikes.Bus", "Can I bring my bike on the bus?", "Yes, on the front rack."),
         qna_raw("Bikes.Ferry", "Can I bring my bike on the ferry?", "Yes, on the car deck."),
         qna_raw("Lost.Found", "Where is lost and found?", "At Central Station.")]
TURNS = [("bike on the bus", {"qid": "Bikes.Bus"}), ("ferry bike rules", {"qid": "Bikes.Ferry"}),
         ("I lost my umbrella, where is lost and found", {"qid": "Lost.Found"}),
         ("what is the capital of Peru", {"no_answer": True})]


def prepare(qnabot, tmp_path):
    faq = tmp_path / "faq.json"
    faq.write_text(json.dumps({"qna": ITEMS}))
    assert qnabot("import", faq).code == 0
    labeled = tmp_path / "labeled.jsonl"
    labeled.write_text("\n".join(json.dumps({"id": f"c{i}", "category": "x", "turns": [{"q": q, "expect": e}]})
                                 for i, (q, e) in enumerate(TURNS)))
    return labeled


def test_tune_recommends_settings_within_the_wrong_answer_target(qnabot, tmp_path):
    labeled = prepare(qnabot, tmp_path)
    run = qnabot("tune", labeled, "--max-wrong-rate", "0", "--json")
    assert run.code == 0
    result = json.loads(run.out)
    assert result["recommended"]["wrong_rate"] == 0
    assert "EMBEDDINGS_SCORE_THRESHOLD" in result["recommended"]["settings"]
    assert result["applied"] is False


def test_tune_apply_stores_the_recommendation_and_plot_writes_a_png(qnabot, tmp_path):
    labeled = prepare(qnabot, tmp_path)
    chart = tmp_path / "tradeoff.png"
    run = qnabot("tune", labeled, "--apply", "--plot", chart)
    assert run.code == 0 and "Applied." in run.out
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    recommended = [line.split()[-2:] for line in run.out.splitlines() if "qnabot settings set" in line]
    for name, value in recommended:
        assert qnabot("settings", "get", name).out.strip() == value


def test_tune_reports_a_bad_labeled_file_without_a_traceback(qnabot, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    run = qnabot("tune", bad)
    assert run.code == 2 and "bad.jsonl:1" in run.err and "Traceback" not in run.err


def test_tune_on_a_knowledge_base_indexed_by_another_model_says_to_reindex(qnabot, tmp_path, monkeypatch):
    labeled = prepare(qnabot, tmp_path)
    monkeypatch.setenv("EMBEDDINGS_DIMENSIONS", "32")  # another model than the one that indexed
    run = qnabot("tune", labeled)
    assert run.code == 2 and "qnabot reindex" in run.err


def test_tune_targets_the_wrong_answer_rate_the_shipped_defaults_were_chosen_at():
    from pathlib import Path

    from cli.main import build_parser

    args = build_parser().parse_args(["tune", "labeled.jsonl"])
    readme = (Path(__file__).resolve().parents[2] / "data" / "README.md").read_text("utf-8")
    assert f"≤ {args.max_wrong_rate:.0%} wrong answers on `dev.jsonl`" in readme
