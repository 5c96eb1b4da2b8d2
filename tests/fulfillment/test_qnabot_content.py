"""QnABot-format content through the Lex handler: templates reading what Lex sent (slots of a
QID intent, the client type), the user's language, and settings, custom ones included."""

from __future__ import annotations

import pytest

from fulfillment import handler

from .conftest import MemorySettingsRepo, build_kb, make_pipeline
from .lex_events import connect_voice_event, first_text, qid_intent_event, text_event

ITEMS = [
    {"qid": "Weather.1", "q": ["What is the weather in {city}"], "enableQidIntent": True,
     "slots": [{"slotName": "city", "slotType": "AMAZON.City", "slotRequired": True,
                "slotPrompt": "Which city?"}],
     "a": "Sunny in {{getSlot 'city' 'your city'}}, {{Settings.MY_GREETING}}."},
    {"qid": "Channel.1", "q": ["Which channel is this"],
     "a": "{{#ifCond ClientType '==' 'LEX.AmazonConnect.Voice'}}Phone{{else}}Chat{{/ifCond}}"},
    {"qid": "Hello.1", "q": ["Say hello"],
     "a": "{{#ifLang 'es'}}Hola{{/ifLang}}{{#defaultLang}}Hello{{/defaultLang}}"},
]


@pytest.fixture
def lex(tmp_path):
    kb = build_kb(tmp_path / "k.sqlite", ITEMS, fixtures=False)
    handler.set_service(handler.FulfillmentService(
        make_pipeline(kb), MemorySettingsRepo(MY_GREETING="friend")))
    yield handler.lambda_handler
    handler.set_service(None)


def test_a_slot_filled_by_lex_reaches_the_answer_template(lex):
    event = qid_intent_event("Weather.1", "What is the weather in Paris")
    event["sessionState"]["intent"]["slots"] = {"city": {"shape": "Scalar", "value": {
        "originalValue": "paris", "interpretedValue": "Paris", "resolvedValues": ["Paris"]}}}
    assert first_text(lex(event, None)) == "Sunny in Paris, friend."


def test_the_client_type_tells_amazon_connect_from_chat(lex):
    assert first_text(lex(text_event("Which channel is this"), None)) == "Chat"
    assert "Phone" in first_text(lex(connect_voice_event("Which channel is this"), None))


def test_iflang_follows_the_language_qnabot_detected(lex):
    assert first_text(lex(text_event("Say hello"), None)) == "Hello"
    spanish = text_event("Say hello", session_attributes={
        "qnabotcontext": '{"userLocale": "es"}'})
    assert first_text(lex(spanish, None)) == "Hola"
