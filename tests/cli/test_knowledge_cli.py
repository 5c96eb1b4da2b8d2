"""The ``qnabot`` knowledge-base commands, as an admin uses them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli import main as cli_main
from knowledge.settings import REGISTRY
from tests.shared_fixtures import FIXTURES

BLOG = FIXTURES / "blog-samples-final.json"
PASSAGES = FIXTURES / "TextPassage-NurseryRhymeExamples.json"
FAIL = FIXTURES / "import-fail-expected.json"
PASS = FIXTURES / "import-pass-expected.json"


def qna(qid: str, question: str = "How are you?", answer: str = "Fine.") -> dict:
    return {"qid": qid, "q": [question], "a": answer}


def exported(qnabot) -> list[dict]:
    run = qnabot("export", "-")
    assert run.code == 0, run.err
    return json.loads(run.out)["qna"]


# --- import -----------------------------------------------------------------------------------


def test_import_of_the_sample_packages_exits_0_with_a_summary(qnabot):
    run = qnabot("import", BLOG, PASSAGES)

    assert run.code == 0, run.err
    assert run.out.strip().splitlines()[-1].startswith("read 22, stored 22, rejected 0 in ")


def test_import_prints_one_line_per_invalid_item_and_exits_1(qnabot):
    run = qnabot("import", FAIL, PASS)

    assert run.code == 1
    lines = run.out.splitlines()
    assert f'{FAIL}:2 qid="No Spaces.001" qid: must not contain whitespace' in run.out
    assert f"{FAIL}:3 qid=NoQuestion.001 q: needs at least 1 entry" in lines
    assert f"{FAIL}:4 qid=NoAnswer.001 a: must not be blank" in lines
    assert any(line.startswith(f"{FAIL}:5 qid=QuestionCharLimit.001 q[0]: is 141 characters")
               for line in lines)
    assert any(line.startswith(f'{FAIL}:1 qid="" qid: must not be blank') for line in lines)
    assert lines[-1].startswith("read 8, stored 3, rejected 5")
    assert {item["qid"] for item in exported(qnabot)} == {
        "Import.002", "Import.003", "DoubleByteCharacters.001"}


def test_json_lines_problems_name_the_line(qnabot, tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join([json.dumps(qna("A.1")), "{oops", json.dumps(qna("A.2"))]))

    run = qnabot("import", path)

    assert run.code == 1
    assert f"{path}:2 qid=- item: is not valid JSON" in run.out
    assert [item["qid"] for item in exported(qnabot)] == ["A.1", "A.2"]


def test_an_unreadable_file_exits_2_with_a_message_and_changes_nothing(qnabot, tmp_path):
    qnabot("import", BLOG)
    before = exported(qnabot)
    truncated = tmp_path / "truncated.json"
    truncated.write_text(BLOG.read_text("utf-8-sig")[:3000], "utf-8")

    run = qnabot("import", "--replace-all", PASSAGES, truncated)

    assert run.code == 2
    assert run.err.startswith(f"qnabot: error: cannot import {truncated}")
    assert "truncated" in run.err and "Traceback" not in run.err
    assert exported(qnabot) == before


def test_import_json_prints_the_report(qnabot):
    run = qnabot("import", "--json", FAIL)

    report = json.loads(run.out)
    assert run.code == 1
    assert (report["read"], report["stored"], report["rejected"]) == (5, 0, 5)
    assert {p["field"] for p in report["problems"] if p["position"] == 4} == {"a"}


def test_import_warns_about_a_repeated_qid(qnabot, tmp_path):
    path = tmp_path / "dup.jsonl"
    path.write_text("\n".join([json.dumps(qna("D.1", answer="one")),
                               json.dumps(qna("D.1", answer="two"))]))

    run = qnabot("import", path)

    assert run.code == 0
    assert f'warning: qid "D.1" occurs more than once ({path}:1 and {path}:2)' in run.out
    assert [item["a"] for item in exported(qnabot)] == ["two"]


def test_import_upserts_and_replace_all_replaces(qnabot, tmp_path):
    qnabot("import", BLOG)
    update = tmp_path / "update.jsonl"
    update.write_text(json.dumps(qna("Alexa.001", "What is an Echo Show?", "A screen.")))

    qnabot("import", update)
    items = {item["qid"]: item for item in exported(qnabot)}
    assert len(items) == 20 and items["Alexa.001"]["a"] == "A screen."

    qnabot("import", "--replace-all", update, PASSAGES)
    assert [item["qid"] for item in exported(qnabot)] == [
        "0.BoPeep", "0.HumptyDumpty", "Alexa.001"]


# --- export -----------------------------------------------------------------------------------


def test_export_round_trip_through_an_empty_home_is_byte_identical(qnabot, tmp_path,
                                                                   monkeypatch):
    qnabot("import", BLOG, PASSAGES, PASS)
    first = tmp_path / "first.json"
    assert qnabot("export", first).out.strip() == f"exported 25 items to {first}"

    monkeypatch.setenv("QNABOT_HOME", str(tmp_path / "other-home"))
    assert qnabot("import", first).code == 0
    second = tmp_path / "second.json"
    qnabot("export", second)

    assert first.read_bytes() == second.read_bytes()


def test_export_filter_keeps_matching_qids(qnabot):
    qnabot("import", BLOG)

    run = qnabot("export", "-", "--filter", "Cost")

    assert [item["qid"] for item in json.loads(run.out)["qna"]] == ["Alexa.Cost", "QnABot.Cost"]
    assert run.err.strip() == "exported 2 items"


# --- search -----------------------------------------------------------------------------------


def test_search_json_lists_ranked_candidates_with_stage_and_scores(qnabot):
    qnabot("import", BLOG, PASSAGES)

    run = qnabot("search", "Humpty Dumpty wall", "--mode", "keywords", "--json")

    result = json.loads(run.out)
    assert run.code == 0
    assert set(result) >= {"query", "mode", "best", "candidates", "timings_ms"}
    assert result["mode"] == "keywords" and result["best"]["qid"] == "0.HumptyDumpty"
    assert set(result["candidates"][0]) >= {"qid", "stage", "score", "vector_score",
                                            "keyword_score", "threshold", "passed", "matched"}


def test_search_prints_a_readable_table_and_the_best_hit(qnabot):
    qnabot("import", BLOG, PASSAGES)

    run = qnabot("search", "Humpty Dumpty wall", "--mode", "keywords", "--all-stages")

    header = run.out.splitlines()[0].split()
    assert header == ["rank", "qid", "stage", "similarity", "confidence", "keyword", "passed",
                      "matched"]
    assert "best: 0.HumptyDumpty (passages" in run.out


def test_search_explains_a_miss_and_suggests_the_fix(qnabot):
    qnabot("import", BLOG)

    result = json.loads(qnabot("search", "What is the capital of Peru?", "--json").out)

    top = result["candidates"][0]
    assert result["best"] is None
    assert {"cosine", "confidence", "keywords"} <= set(top["evidence"])
    assert any("CLASSIFIER_CONFIDENCE_THRESHOLD" in line for line in top["explain"])
    assert any("add the question \"What is the capital of Peru?\" to it" in line
               for line in top["suggestions"])


def test_search_on_an_empty_knowledge_base_finds_no_hit(qnabot):
    run = qnabot("search", "What is the capital of Peru?")

    assert run.code == 0
    assert "no hit" in run.out


def test_a_changed_embeddings_model_is_refused_until_reindex(qnabot, monkeypatch):
    qnabot("import", BLOG)
    monkeypatch.setenv("EMBEDDINGS_DIMENSIONS", "32")

    refused = qnabot("search", "What is an Echo Show?")
    assert refused.code == 2
    assert refused.err.startswith("qnabot: error: The knowledge base was indexed with")
    assert "qnabot reindex" in refused.err
    assert json.loads(qnabot("info", "--json").out)["reindex_needed"] is True

    reindexed = qnabot("reindex")
    assert reindexed.code == 0
    assert reindexed.out.startswith("re-embedded 20 items with test/hashing-32 (32 dimensions)")
    assert qnabot("search", "What is an Echo Show?").code == 0


# --- settings ---------------------------------------------------------------------------------


def test_settings_set_get_and_reset_one(qnabot):
    assert qnabot("settings", "set", "EMBEDDINGS_SCORE_THRESHOLD", "0.7").code == 0
    assert qnabot("settings", "get", "EMBEDDINGS_SCORE_THRESHOLD").out == "0.7\n"

    assert qnabot("settings", "reset", "EMBEDDINGS_SCORE_THRESHOLD").code == 0
    assert qnabot("settings", "get", "EMBEDDINGS_SCORE_THRESHOLD").out == REGISTRY["EMBEDDINGS_SCORE_THRESHOLD"].default + "\n"


def test_an_override_set_to_empty_stays_empty(qnabot):
    qnabot("settings", "set", "EMPTYMESSAGE", "")

    assert qnabot("settings", "get", "EMPTYMESSAGE").out == "\n"


def test_reset_without_a_name_removes_every_override(qnabot):
    qnabot("settings", "set", "TOPIC_BOOST", "0.1")
    qnabot("settings", "set", "ES_SCORE_ANSWER_FIELD", "true")

    run = qnabot("settings", "reset")

    assert run.out.startswith("removed 2 overrides")
    listing = json.loads(qnabot("settings", "list", "--json").out)
    assert not any(entry["overridden"] for entry in listing)


@pytest.mark.parametrize("argv, message", [
    (("settings", "get", "EMBEDINGS_SCORE_THRESHOLD"),
     'unknown setting "EMBEDINGS_SCORE_THRESHOLD". Did you mean EMBEDDINGS_SCORE_THRESHOLD'),
    (("settings", "set", "NO SUCH SETTING", "1"), 'unknown setting "NO SUCH SETTING"'),
    (("settings", "set", "EMBEDDINGS_SCORE_THRESHOLD", "high"),
     'EMBEDDINGS_SCORE_THRESHOLD: expected a number, got "high"'),
    (("settings", "set", "ES_SCORE_ANSWER_FIELD", "maybe"),
     'ES_SCORE_ANSWER_FIELD: expected true or false, got "maybe"'),
    (("settings", "reset", "NOPE"), 'unknown setting "NOPE"'),
    (("settings", "list", "--category", "Nope"), 'no settings in category "Nope"'),
])
def test_unknown_settings_and_wrong_types_are_refused_with_exit_2(qnabot, argv, message):
    run = qnabot(*argv)

    assert run.code == 2
    assert run.err.startswith(f"qnabot: error: {message}")
    assert run.out == ""


def test_custom_settings_are_kept_shown_and_reset(qnabot):
    run = qnabot("settings", "set", "EMBEDINGS_ENABLE", "true")
    assert run.code == 0
    assert "custom setting" in run.err and "did you mean EMBEDDINGS_ENABLE?" in run.err
    assert qnabot("settings", "get", "EMBEDINGS_ENABLE").out == "true\n"
    listing = json.loads(qnabot("settings", "list", "--json", "--category", "custom").out)
    assert [(e["name"], e["value"]) for e in listing] == [("EMBEDINGS_ENABLE", "true")]
    assert qnabot("settings", "reset", "EMBEDINGS_ENABLE").code == 0
    assert qnabot("settings", "get", "EMBEDINGS_ENABLE").code == 2


def test_settings_export_and_import_use_qnabot_settings_json(qnabot, tmp_path):
    qnabot("settings", "set", "ES_USE_FUZZY_MATCH", "true")
    qnabot("settings", "set", "MY_HOOK_TABLE", "orders")
    exported = tmp_path / "settings.json"
    assert qnabot("settings", "export", str(exported)).code == 0
    assert json.loads(exported.read_text()) == {"ES_USE_FUZZY_MATCH": "true",
                                                "MY_HOOK_TABLE": "orders"}
    qnabot("settings", "reset")
    # A file as QnABot's designer writes it: numbers and lists as JSON values.
    exported.write_text('{"MY_HOOK_TABLE": "orders", "ES_PHRASE_BOOST": 4, '
                        '"FALLBACK_ORDER": "KNOWLEDGEBASE-FIRST"}')
    run = qnabot("settings", "import", str(exported))
    assert (run.code, run.out) == (0, f"imported 3 settings from {exported} (1 custom)\n")
    assert qnabot("settings", "get", "ES_PHRASE_BOOST").out == "4\n"
    assert qnabot("settings", "get", "MY_HOOK_TABLE").out == "orders\n"


def test_a_settings_import_with_a_bad_value_imports_nothing(qnabot, tmp_path):
    bad = tmp_path / "settings.json"
    bad.write_text('{"EMPTYMESSAGE": "Sorry!", "EMBEDDINGS_SCORE_THRESHOLD": "high"}')
    run = qnabot("settings", "import", str(bad))
    assert run.code == 2
    assert "nothing imported" in run.err and "EMBEDDINGS_SCORE_THRESHOLD" in run.err
    assert qnabot("settings", "get", "EMPTYMESSAGE").out == REGISTRY["EMPTYMESSAGE"].default + "\n"
    bad.write_text("{not json")
    assert "not JSON" in qnabot("settings", "import", str(bad)).err


def test_a_refused_value_is_not_saved(qnabot):
    qnabot("settings", "set", "MATCH_CANDIDATES", "500")

    assert qnabot("settings", "get", "MATCH_CANDIDATES").out == "20\n"


def test_settings_list_shows_value_default_category_and_marks_overrides(qnabot):
    qnabot("settings", "set", "TOPIC_BOOST", "0.33")

    table = qnabot("settings", "list", "--category", "matching").out
    listing = json.loads(qnabot("settings", "list", "--json").out)

    row = next(line for line in table.splitlines() if "TOPIC_BOOST" in line)
    assert row.split() == ["*", "TOPIC_BOOST", "0.33", REGISTRY["TOPIC_BOOST"].default, "Matching"]
    assert "LLM_QA_ENABLE" not in table
    entry = next(e for e in listing if e["name"] == "TOPIC_BOOST")
    assert entry == {**entry, "value": "0.33", "default": REGISTRY["TOPIC_BOOST"].default, "category": "Matching",
                     "overridden": True}


# --- info and the command line itself ------------------------------------------------------------


def test_info_shows_home_counts_index_and_overrides(qnabot, home):
    qnabot("import", BLOG, PASSAGES)
    qnabot("settings", "set", "TOPIC_BOOST", "0.33")

    info = json.loads(qnabot("info", "--json").out)
    text = qnabot("info").out

    assert info["home"] == str(home.resolve())
    assert info["items"] == {"total": 22, "qna": 20, "text": 2}
    assert info["index"] == {"model_id": "test/hashing-64", "dimension": 64}
    assert info["settings_overrides"] == 1 and info["reindex_needed"] is False
    assert "22 (20 qna, 2 text)" in text


def test_a_usage_error_exits_2_without_a_traceback(qnabot):
    run = qnabot("import")

    assert run.code == 2
    assert "qnabot import: error: the following arguments are required: FILE" in run.err
    assert "Traceback" not in run.err


def test_a_command_module_that_is_not_written_yet_is_skipped(monkeypatch):
    monkeypatch.setattr(cli_main, "COMMAND_MODULES",
                        ("cli.knowledge_commands", "cli.not_written_yet"))

    names = [module.__name__ for module in cli_main.command_modules()]

    assert names == ["cli.knowledge_commands"]


def test_a_command_module_with_a_broken_import_is_not_hidden(monkeypatch):
    original = cli_main.importlib.import_module

    def import_module(name, *args, **kwargs):
        if name == "cli.broken_commands":  # exists, but needs a package that is missing
            raise ModuleNotFoundError("No module named 'some_dependency'", name="some_dependency")
        return original(name, *args, **kwargs)

    monkeypatch.setattr(cli_main.importlib, "import_module", import_module)
    monkeypatch.setattr(cli_main, "COMMAND_MODULES",
                        ("cli.knowledge_commands", "cli.broken_commands"))

    with pytest.raises(ModuleNotFoundError, match="some_dependency"):
        cli_main.command_modules()


def test_the_installed_console_script_imports_and_reports_errors(home, tmp_path):
    script = Path(sys.executable).with_name("qnabot")
    if not script.exists():
        pytest.skip("the qnabot console script is not installed (pip install -e .)")
    env = {**os.environ, "QNABOT_HOME": str(home), "EMBEDDINGS_API": "HASHING"}

    imported = subprocess.run([script, "import", BLOG], env=env, capture_output=True,
                              text=True, timeout=120)
    refused = subprocess.run([script, "settings", "get", "NOPE"], env=env, capture_output=True,
                             text=True, timeout=120)

    assert imported.returncode == 0, imported.stderr
    assert "stored 20" in imported.stdout
    assert refused.returncode == 2
    assert refused.stderr.startswith("qnabot: error: unknown setting") and "Traceback" not in (
        refused.stderr)
