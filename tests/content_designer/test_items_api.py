"""Items through the admin API: list, filter, get, put (validated), delete, and the TEST route."""

from __future__ import annotations

import json


def qids(reply) -> list[str]:
    return [item["qid"] for item in reply.json()["items"]]


def test_listing_pages_through_items_sorted_by_qid(loaded):
    first = loaded.get("/items?limit=5")
    second = loaded.get("/items?limit=5&offset=5")
    assert first.json()["total"] == 22
    assert qids(first) == sorted(qids(first))
    assert len(set(qids(first)) | set(qids(second))) == 10


def test_qid_filter_is_plain_text_substring_or_prefix_never_a_pattern(loaded):
    assert qids(loaded.get("/items?qid=Cost")) == ["Alexa.Cost", "QnABot.Cost"]
    assert qids(loaded.get("/items?qid=Cost&prefix=true")) == []
    assert qids(loaded.get("/items?qid=Admin&prefix=true"))[0] == "Admin.001"
    assert loaded.get("/items?qid=.*").json()["total"] == 0
    assert loaded.get("/items?qid=(a+)+$").status == 200


def test_get_returns_the_item_json_and_404_names_a_missing_qid(loaded):
    assert loaded.get("/items/Alexa.001").json()["r"]["title"] == "Echo Show"
    missing = loaded.get("/items/No.Such")
    assert missing.status == 404
    assert "No.Such" in missing.json()["error"]


def test_put_creates_then_replaces_an_item_that_is_searchable_at_once(loaded):
    item = {"q": ["How many moons does Mars have?"], "a": "Two: Phobos and Deimos.", "t": "space"}
    assert loaded.put("/items/Mars.Moons", item).status == 201
    assert loaded.put("/items/Mars.Moons", {**item, "a": "Two."}).status == 200
    assert loaded.get("/items/Mars.Moons").json()["a"] == "Two."
    best = loaded.post("/test", {"question": "How many moons does Mars have?"}).json()["best"]
    assert best["qid"] == "Mars.Moons"


def test_put_refuses_an_invalid_item_naming_every_field(loaded):
    reply = loaded.put("/items/Bad.1", {"q": ["x" * 141], "a": " "})
    assert reply.status == 400
    fields = {p["field"] for p in reply.json()["problems"]}
    assert fields == {"body.q[0]", "body.a"}
    assert loaded.get("/items/Bad.1").status == 404


def test_put_refuses_a_body_qid_that_differs_from_the_path(loaded):
    reply = loaded.put("/items/A.1", {"qid": "B.1", "q": ["Hi"], "a": "Hello"})
    assert reply.status == 400
    assert reply.json()["problems"][0]["field"] == "body.qid"


def test_delete_one_and_delete_a_list_report_what_existed(loaded):
    assert loaded.delete("/items/Alexa.001").json() == {"deleted": 1}
    assert loaded.delete("/items/Alexa.001").status == 404
    reply = loaded.post("/items/delete", {"qids": ["FireTV.001", "Help", "Nope"]})
    assert reply.json() == {"deleted": 2, "asked": 3}
    assert loaded.get("/items").json()["total"] == 19


def test_delete_list_must_name_at_least_one_qid(loaded):
    reply = loaded.post("/items/delete", {"qids": []})
    assert reply.status == 422
    assert reply.json()["problems"][0]["field"] == "body.qids"


def test_test_route_ranks_candidates_with_stage_scores_and_threshold(loaded):
    result = loaded.post("/test", {"question": "What is Amazon Fire TV?"}).json()
    assert result["best"]["qid"] == "FireTV.001"
    assert result["best"]["stage"] == "questions"
    first = result["candidates"][0]
    assert set(first) >= {"qid", "stage", "score", "vector_score", "keyword_score",
                          "topic_boost", "threshold", "passed", "matched"}
    assert {c["stage"] for c in result["candidates"]} == {"questions", "passages"}


def test_test_route_applies_the_client_filter(loaded):
    loaded.put("/items/Vip.1", {"q": ["What is the lounge code?"], "a": "4242",
                                "clientFilterValues": "vip"})
    anonymous = loaded.post("/test", {"question": "What is the lounge code?"}).json()
    vip = loaded.post("/test", {"question": "What is the lounge code?",
                                "client_filter": "vip"}).json()
    assert "Vip.1" not in [c["qid"] for c in anonymous["candidates"]]
    assert vip["best"]["qid"] == "Vip.1"


def test_item_schemas_are_served_for_the_editor(loaded):
    assert loaded.get("/schemas/qna").json()["required"] == ["qid", "q", "a"]
    assert loaded.get("/schemas/text").status == 200
    assert loaded.get("/schemas/other").status == 404
    assert loaded.get("/schemas").json()["types"][:2] == ["qna", "text"]
    # References are resolved, so the page can build a form from the schema alone.
    text = loaded.get("/schemas/text").json()
    assert text["properties"]["r"]["properties"]["buttons"]["type"] == "array"
    assert "$ref" not in json.dumps(text)


def test_search_finds_words_in_questions_and_answers_ignoring_case_and_accents(loaded):
    assert "Alexa.001" in qids(loaded.get("/items?q=echo%20SHOW"))
    assert "0.HumptyDumpty" in qids(loaded.get("/items?q=WALL"))  # a passage's words
    loaded.put("/items/Cafe.1", {"qid": "Cafe.1", "q": ["Où est le café ?"], "a": "Ici."})
    assert qids(loaded.get("/items?q=cafe")) == ["Cafe.1"]
    reply = loaded.get("/items?q=zzzz-nothing").json()
    assert (reply["items"], reply["total"]) == ([], 0)


def test_filters_sorting_and_page_size_with_the_count_of_the_filter(loaded):
    text = loaded.get("/items?type=text&limit=1").json()
    assert (text["total"], len(text["items"])) == (2, 1)
    facets = loaded.get("/items-facets").json()
    assert {"qna", "text"} <= set(facets["types"]) and facets["topics"]
    topic = facets["topics"][0]
    in_topic = loaded.get(f"/items?topic={topic}&limit=500").json()
    assert in_topic["total"] == len(in_topic["items"]) > 0
    assert {item.get("t") for item in in_topic["items"]} == {topic}
    descending = qids(loaded.get("/items?sort=qid&order=desc&limit=500"))
    assert descending == sorted(descending, key=str.casefold, reverse=True)


def test_rename_moves_an_item_and_refuses_a_qid_in_use(loaded):
    reply = loaded.post("/items/Alexa.001/rename", {"new_qid": "Echo.Show"})
    assert reply.status == 200, reply.body
    assert loaded.get("/items/Alexa.001").status == 404
    question = loaded.get("/items/Echo.Show").json()["q"][0]
    assert loaded.post("/test", {"question": question}).json()["best"]["qid"] == "Echo.Show"
    refused = loaded.post("/items/Echo.Show/rename", {"new_qid": "FireTV.001"})
    assert refused.status == 409 and "already exists" in refused.json()["error"]
    assert loaded.get("/items/Echo.Show").status == 200  # nothing lost


def test_duplicate_copies_an_item_under_a_new_qid(loaded):
    reply = loaded.post("/items/Alexa.001/duplicate", {"new_qid": "Alexa.001-copy"})
    assert reply.status == 201
    assert loaded.get("/items/Alexa.001-copy").json()["q"] == loaded.get(
        "/items/Alexa.001").json()["q"]
    assert loaded.post("/items/Alexa.001/duplicate", {"new_qid": "has space"}).status == 422


def test_preview_shows_the_answer_as_the_chat_would(loaded):
    shown = loaded.post("/items/preview", {
        "qid": "Draft.1", "q": ["Hi"], "a": "Plain", "alt": {
            "markdown": "**Bold** <script>alert(1)</script>",
            "ssml": "<speak>Hi <sub alias='there'>th</sub></speak>"},
        "r": {"title": "Card", "buttons": [{"text": "More", "value": "tell me more"}]}}).json()
    assert shown["html"].startswith("<p><strong>Bold</strong>") and "<script" not in shown["html"]
    assert shown["ssml"].startswith("<speak>") and shown["card"]["title"] == "Card"


def test_preview_of_a_passage_shows_the_passage(loaded):
    shown = loaded.post("/items/preview", {"qid": "P.1", "type": "text",
                                           "passage": "Little Bo-Peep has lost her sheep."}).json()
    assert "Bo-Peep" in shown["html"] and shown["card"] is None
