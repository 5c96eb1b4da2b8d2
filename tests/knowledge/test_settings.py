"""Settings: typed defaults under QnABot's names, overrides kept in the home folder."""

import pytest

from knowledge.settings import (
    REGISTRY,
    SettingError,
    Settings,
    SettingsUnavailableError,
    lookup,
    validate_updates,
)
from knowledge.settings_file import FileSettingsRepo


def test_defaults_are_typed():
    settings = Settings.defaults()
    assert settings.get("ES_NO_HITS_QUESTION") == "no_hits"
    assert settings.get("ES_SCORE_TEXT_ITEM_PASSAGES") is True
    assert isinstance(settings.get("EMBEDDINGS_SCORE_THRESHOLD"), float)
    assert settings.get("LLM_CHAT_HISTORY_MAX_MESSAGES") == 12
    assert settings.get("LLM_QA_MODEL_PARAMS") == {"temperature": 0}
    assert settings.get("LLM_QA_NO_HITS_REGEX").search("Sorry, I don't know.")


def test_every_default_parses_and_is_described():
    for setting in REGISTRY.values():
        Settings.defaults().get(setting.name)
        assert setting.description and setting.category


@pytest.mark.parametrize("text,expected", [("TRUE", True), ("false", False), ("1", True), ("0", False)])
def test_booleans_parse_like_qnabot(text, expected):
    assert Settings({"ENABLE_DEBUG_RESPONSES": text}).get("ENABLE_DEBUG_RESPONSES") is expected


def test_an_override_set_to_empty_stays_empty():
    settings = Settings({"LLM_QA_PREFIX_MESSAGE": ""})
    assert settings.get("LLM_QA_PREFIX_MESSAGE") == ""
    assert settings.text("LLM_QA_PREFIX_MESSAGE") == ""


def test_unknown_names_are_refused_with_a_suggestion():
    with pytest.raises(SettingError, match="Did you mean EMBEDDINGS_SCORE_THRESHOLD"):
        lookup("EMBEDDINGS_SCORE_TRESHOLD")


def test_wrong_types_and_ranges_are_refused_all_at_once():
    with pytest.raises(SettingError) as info:
        validate_updates({"EMBEDDINGS_SCORE_THRESHOLD": "high", "LLM_CHAT_HISTORY_MAX_MESSAGES": "-1",
                          "ENABLE_DEBUG_RESPONSES": "maybe", "LLM_QA_MODEL_PARAMS": "[1]",
                          "REDACTING_REGEX": "([unclosed"})
    lines = str(info.value).splitlines()
    assert len(lines) == 5
    assert 'EMBEDDINGS_SCORE_THRESHOLD: expected a number, got "high"' in lines
    assert any(line.startswith("REDACTING_REGEX: not a valid regular expression") for line in lines)


def test_valid_updates_come_back_as_stored_strings():
    assert validate_updates({"ENABLE_DEBUG_RESPONSES": True, "EMBEDDINGS_SCORE_THRESHOLD": 0.7}) == {
        "ENABLE_DEBUG_RESPONSES": "true", "EMBEDDINGS_SCORE_THRESHOLD": "0.7"}


def test_a_stored_value_that_no_longer_parses_falls_back_to_the_default():
    settings = Settings({"EMBEDDINGS_SCORE_THRESHOLD": "garbage"})
    assert settings.get("EMBEDDINGS_SCORE_THRESHOLD") == float(REGISTRY["EMBEDDINGS_SCORE_THRESHOLD"].default)


def test_file_repo_persists_resets_and_keeps_custom_settings(tmp_path):
    repo = FileSettingsRepo(tmp_path / "settings.json")
    repo.save({"EMBEDDINGS_SCORE_THRESHOLD": "0.7", "ENABLE_DEBUG_RESPONSES": "true"})
    reopened = FileSettingsRepo(tmp_path / "settings.json")
    assert reopened.load().get("EMBEDDINGS_SCORE_THRESHOLD") == 0.7
    reopened.remove(["EMBEDDINGS_SCORE_THRESHOLD"])
    assert reopened.overrides() == {"ENABLE_DEBUG_RESPONSES": "true"}
    reopened.remove(None)
    assert reopened.overrides() == {}
    (tmp_path / "settings.json").write_text('{"MY_HOOK_SETTING": "x"}')
    assert reopened.load().custom() == {"MY_HOOK_SETTING": "x"}
    assert reopened.load().text("MY_HOOK_SETTING") == "x"


def test_a_corrupt_settings_file_gives_a_clear_error(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    with pytest.raises(SettingsUnavailableError, match="settings.json.*Fix it.*reset"):
        FileSettingsRepo(path).overrides()
