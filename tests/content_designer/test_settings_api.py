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
                                     "EMBEDINGS_ENABLE": "true",
                                     "TOPIC_BOOST": "0.1"})
    assert reply.status == 400
    fields = [p["field"] for p in reply.json()["problems"]]
    assert fields == ["body.EMBEDDINGS_SCORE_THRESHOLD", "body.EMBEDINGS_ENABLE"]
    assert "Did you mean EMBEDDINGS_ENABLE" in reply.json()["error"]
    assert setting(client, "TOPIC_BOOST")["overridden"] is False


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


def test_reset_of_an_unknown_setting_is_refused(client):
    reply = client.post("/settings/reset", {"names": ["NO_SUCH_SETTING"]})
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
