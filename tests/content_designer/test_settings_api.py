"""Settings through the admin API: list, typed updates, reset; changes apply on the next turn."""

from __future__ import annotations

from knowledge.settings import REGISTRY


def setting(client, name: str) -> dict:
    return next(s for s in client.get("/settings").json()["settings"] if s["name"] == name)


def test_every_setting_is_listed_with_default_value_and_category(client):
    settings = client.get("/settings").json()["settings"]
    assert [s["name"] for s in settings] == list(REGISTRY)
    threshold = next(s for s in settings if s["name"] == "EMBEDDINGS_SCORE_THRESHOLD")
    default = REGISTRY["EMBEDDINGS_SCORE_THRESHOLD"].default
    assert threshold.items() >= {"default": default, "value": default, "category": "Matching",
                                 "type": "float", "overridden": False, "minimum": 0}.items()


def test_update_stores_typed_values_as_strings(client):
    reply = client.put("/settings", {"EMBEDDINGS_SCORE_THRESHOLD": 0.7,
                                     "ES_SCORE_ANSWER_FIELD": True,
                                     "LLM_QA_MODEL_PARAMS": {"temperature": 0.2}})
    assert reply.status == 200
    assert reply.json()["updated"] == ["EMBEDDINGS_SCORE_THRESHOLD", "ES_SCORE_ANSWER_FIELD",
                                       "LLM_QA_MODEL_PARAMS"]
    assert setting(client, "ES_SCORE_ANSWER_FIELD")["value"] == "true"
    assert setting(client, "EMBEDDINGS_SCORE_THRESHOLD")["overridden"] is True


def test_a_bad_batch_is_refused_whole_naming_each_setting(client):
    reply = client.put("/settings", {"EMBEDDINGS_SCORE_THRESHOLD": "high",
                                     "ES_SCORE_ANSWER_FIELD": "maybe",
                                     "TOPIC_BOOST": "0.1"})
    assert reply.status == 400
    fields = [p["field"] for p in reply.json()["problems"]]
    assert fields == ["body.EMBEDDINGS_SCORE_THRESHOLD", "body.ES_SCORE_ANSWER_FIELD"]
    assert setting(client, "TOPIC_BOOST")["overridden"] is False


def test_custom_settings_are_kept_listed_and_a_likely_typo_is_flagged(client):
    reply = client.put("/settings", {"MY_HOOK_TABLE": "orders", "EMBEDINGS_ENABLE": "true"})
    assert reply.status == 200
    assert reply.json()["warnings"] == [
        "EMBEDINGS_ENABLE is kept as a custom setting; did you mean EMBEDDINGS_ENABLE?"]
    custom = setting(client, "MY_HOOK_TABLE")
    assert (custom["value"], custom["category"], custom["overridden"]) == ("orders", "Custom", True)
    assert client.post("/settings/reset", {"names": ["MY_HOOK_TABLE"]}).status == 200
    names = [s["name"] for s in client.get("/settings").json()["settings"]]
    assert "MY_HOOK_TABLE" not in names and "EMBEDINGS_ENABLE" in names


def test_settings_export_then_import_round_trips_in_qnabot_format(client):
    client.put("/settings", {"ES_USE_FUZZY_MATCH": "true", "MY_HOOK_TABLE": "orders",
                             "TOPIC_BOOST": "0.25"})
    exported = client.get("/settings/export")
    assert exported.status == 200
    assert exported.json() == {"ES_USE_FUZZY_MATCH": "true", "MY_HOOK_TABLE": "orders",
                               "TOPIC_BOOST": "0.25"}
    client.post("/settings/reset", {})
    # QnABot's own files carry numbers and lists as JSON values.
    reply = client.post("/settings/import", {**exported.json(), "ES_PHRASE_BOOST": 4,
                                              "IDENTITY_PROVIDER_JWKS_URLS": []})
    assert reply.status == 200
    assert setting(client, "MY_HOOK_TABLE")["value"] == "orders"
    assert setting(client, "ES_PHRASE_BOOST")["value"] == "4"
    assert setting(client, "IDENTITY_PROVIDER_JWKS_URLS")["value"] == "[]"


def test_a_settings_import_with_a_bad_value_saves_nothing(client):
    reply = client.post("/settings/import", {"EMPTYMESSAGE": "Sorry!",
                                             "FALLBACK_ORDER": "KENDRA_FIRST"})
    assert reply.status == 400
    assert "FALLBACK_ORDER" in reply.json()["error"]
    assert setting(client, "EMPTYMESSAGE")["overridden"] is False


def test_out_of_range_and_invalid_regex_values_are_refused(client):
    assert client.put("/settings", {"EMBEDDINGS_SCORE_THRESHOLD": "7"}).status == 400
    assert client.put("/settings", {"LLM_QA_NO_HITS_REGEX": "(unclosed"}).status == 400


def test_reset_one_setting_then_all(client):
    client.put("/settings", {"TOPIC_BOOST": "0.33", "MATCH_CANDIDATES": "30"})
    assert client.post("/settings/reset", {"names": ["TOPIC_BOOST"]}).json() == {
        "reset": ["TOPIC_BOOST"]}
    assert setting(client, "TOPIC_BOOST")["value"] == REGISTRY["TOPIC_BOOST"].default
    assert setting(client, "MATCH_CANDIDATES")["value"] == "30"
    assert client.post("/settings/reset", {}).json() == {"reset": "all"}
    assert setting(client, "MATCH_CANDIDATES")["overridden"] is False


def test_reset_of_a_name_no_setting_can_have_is_refused(client):
    reply = client.post("/settings/reset", {"names": ["no such setting!"]})
    assert reply.status == 400


def test_a_threshold_change_applies_to_the_next_match_without_restart(loaded):
    # Not a stored question verbatim: those always answer, whatever the thresholds.
    question = {"question": "What is the Amazon Fire TV", "all_stages": False}
    assert loaded.post("/test", question).json()["best"]["qid"] == "FireTV.001"
    loaded.put("/settings", {"EMBEDDINGS_SCORE_THRESHOLD": "1", "CLASSIFIER_CONFIDENCE_THRESHOLD": "1",
                             "ES_SCORE_TEXT_ITEM_PASSAGES": "false"})
    assert loaded.post("/test", question).json()["best"] is None
    loaded.post("/settings/reset", {})
    assert loaded.post("/test", question).json()["best"]["qid"] == "FireTV.001"
