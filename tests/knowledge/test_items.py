"""Item validation: what an admin importing QnABot files sees."""

import json

import pytest

from knowledge.items import InvalidItemError, parse_item
from tests.shared_fixtures import FIXTURES


def load_fixture(name: str) -> list[dict]:
    return json.loads((FIXTURES / name).read_text("utf-8-sig"))["qna"]


def problems_of(raw) -> list[str]:
    with pytest.raises(InvalidItemError) as info:
        parse_item(raw)
    return [str(p) for p in info.value.problems]


def qna(**fields):
    return {"qid": "Test.001", "q": ["How are you?"], "a": "Fine.", **fields}


def test_missing_type_means_qna():
    assert parse_item(qna()).kind == "qna"


@pytest.mark.parametrize("name", ["blog-samples-final.json", "TextPassage-NurseryRhymeExamples.json",
                                  "import-pass-expected.json"])
def test_qnabot_sample_packages_are_valid(name):
    items = [parse_item(raw) for raw in load_fixture(name)]
    assert items and all(item.qid for item in items)


def test_each_item_of_the_failing_sample_is_rejected_for_the_right_field():
    expected_fields = ["qid", "qid", "q", "a", "q[0]"]
    for raw, field in zip(load_fixture("import-fail-expected.json"), expected_fields, strict=True):
        assert any(p.startswith(f"{field}:") for p in problems_of(raw)), raw["qid"]


def test_problem_messages_say_what_is_wrong():
    assert problems_of(qna(qid="has space")) == ['qid: must not contain whitespace (got "has space")']
    assert problems_of(qna(a="   ")) == ["a: must not be blank"]
    assert problems_of(qna(q=[])) == ["q: needs at least 1 entry"]
    assert problems_of({"q": ["Hi"], "a": "x"}) == ["qid: is required"]
    long_question = "x" * 141
    assert problems_of(qna(q=[long_question]))[0].startswith("q[0]: is 141 characters long; the limit is 140")
    assert problems_of(qna(qid="q" * 101))[0].startswith("qid: is 101 characters long; the limit is 100")
    assert problems_of(qna(a="y" * 8001))[0].startswith("a: is 8001 characters long")


def test_a_blank_qid_is_reported_once():
    assert problems_of(qna(qid="")) == ["qid: must not be blank"]


def test_wrong_field_types_are_named():
    assert problems_of(qna(q="just one question")) == ["q: must be a list, not text"]
    assert problems_of(qna(r={"buttons": [{"text": "Go"}]})) == ["r.buttons[0].value: is required"]
    assert problems_of(qna(enableQidIntent="yes")) == ["enableQidIntent: must be a boolean, not text"]


def test_text_items_need_a_passage():
    assert problems_of({"qid": "P.1", "type": "text", "passage": " \n"}) == ["passage: must not be blank"]
    assert problems_of({"qid": "P.1", "type": "text"}) == ["passage: is required"]


def test_unknown_type_and_non_objects_are_rejected_clearly():
    assert problems_of(qna(type="slot")) == [
        'type: must be one of "qna", "text", "quiz", "slottype" (got slot)']
    assert problems_of(["not", "an", "object"]) == ["item: must be a JSON object, not list"]


def test_unknown_fields_are_kept():
    item = parse_item(qna(elicitResponse={"responsebot_hook": "QnAYesNoBot"}, custom=1))
    assert item.to_json()["elicitResponse"] == {"responsebot_hook": "QnAYesNoBot"}
    assert item.to_json()["custom"] == 1


def test_typed_fields_read_qnabot_names():
    raw = next(r for r in load_fixture("blog-samples-final.json") if r["qid"] == "Alexa.001")
    item = parse_item(raw)
    assert item.topic == "EchoShow"
    assert item.card.title == "Echo Show"
    assert [b.value for b in item.card.buttons] == ["What is Q and A bot?", "What is Amazon Fire TV?"]
    assert item.markdown == "" and item.ssml == ""


def test_empty_cards_count_as_no_card():
    assert parse_item(qna(r={"title": "", "imageUrl": ""})).card is None


def test_client_filter_values_split_on_commas():
    assert parse_item(qna(clientFilterValues="staff, admins,")).client_filter_values == ("staff", "admins")


def test_parse_does_not_alias_the_callers_dict():
    raw = qna(alt={"markdown": "*Fine*"})
    item = parse_item(raw)
    raw["alt"]["markdown"] = "changed"
    assert item.markdown == "*Fine*"


def test_slottype_items_are_validated_like_other_items():
    valid = {"qid": "Colors", "type": "slottype", "resolutionStrategyRestrict": True,
             "slotTypeValues": [{"samplevalue": "red", "synonyms": "crimson"}]}
    item = parse_item(valid)
    assert (item.kind, item.searchable, item.questions) == ("slottype", False, ())
    assert problems_of({"qid": "Colors", "type": "slottype",
                        "slotTypeValues": [{"synonyms": "x"}]}) == [
        "slotTypeValues[0].samplevalue: is required"]
    assert problems_of({**valid, "resolutionStrategyRestrict": "yes"}) == [
        "resolutionStrategyRestrict: must be a boolean, not text"]


def test_slots_of_qid_intent_items_are_kept_and_type_checked():
    slots = [{"slotName": "city", "slotType": "AMAZON.City", "slotRequired": True}]
    assert parse_item(qna(enableQidIntent=True, slots=slots)).to_json()["slots"] == slots
    assert problems_of(qna(slots=[{"slotName": "city", "slotRequired": "yes"}])) == [
        "slots[0].slotRequired: must be a boolean, not text"]
