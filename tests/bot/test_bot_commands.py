"""``qnabot bot build`` on the command line."""

from __future__ import annotations

import json

import pytest

from cli.main import main


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("QNABOT_HOME", str(tmp_path))
    monkeypatch.setenv("EMBEDDINGS_API", "HASHING")
    for name in ("LEX_BOT_NAME", "LEX_BOT_ROLE_ARN", "FULFILLMENT_LAMBDA_ARN",
                 "LEXV2_BOT_LOCALE_IDS", "QNABOT_STORE"):
        monkeypatch.delenv(name, raising=False)
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join(json.dumps(item) for item in [
        {"qid": "A.1", "q": ["Where is the gate?"], "a": "North.", "enableQidIntent": True},
        {"qid": "B.1", "q": ["When do you open?"], "a": "At 9."}]))
    assert main(["import", str(items)]) == 0
    return tmp_path


def test_dry_run_prints_the_bot_definition_for_each_locale(home, capsys):
    capsys.readouterr()
    assert main(["bot", "build", "--dry-run", "--locales", "en_US,es_US"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["dryRun"] is True
    assert [(loc["locale"], loc["voice"], loc["slot_values"], loc["intents"])
            for loc in result["definition"]["locales"]] == [
        ("en_US", "Joanna", 2, {"QnaIntent": 1, "FallbackIntent": 0, "QID-INTENT-A_dot_1": 1}),
        ("es_US", "Lupe", 2, {"QnaIntent": 1, "FallbackIntent": 0, "QID-INTENT-A_dot_1": 1})]


def test_building_without_the_stack_settings_says_which_to_set(home, capsys):
    assert main(["bot", "build"]) == 2
    assert "set LEX_BOT_NAME, LEX_BOT_ROLE_ARN, FULFILLMENT_LAMBDA_ARN" in capsys.readouterr().err


def test_an_unknown_locale_is_a_user_error(home, capsys):
    assert main(["bot", "build", "--dry-run", "--locales", "en_XX"]) == 2
    assert "unsupported Lex locale en_XX" in capsys.readouterr().err
