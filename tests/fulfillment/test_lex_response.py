"""The Lex V2 response: what Lex requires and what QnABot's web client reads."""

from __future__ import annotations

import json

from fulfillment.lex_response import build_response
from fulfillment.model import Answer, Request, TurnDebug, TurnResult
from fulfillment.render import finish, fit_card
from knowledge.items import Button, Card


def respond(answer, request=None, topic=""):
    request = request or Request(session_id="s1", transcript="What is it?")
    return build_response(TurnResult(request, finish(answer), TurnDebug(), topic=topic))


def test_the_turn_is_closed_and_the_intent_fulfilled_with_a_plain_text_message():
    response = respond(Answer("Hello there.", "qna", qid="Hi.1"))
    state = response["sessionState"]
    assert state["dialogAction"] == {"type": "Close"}
    assert state["intent"]["state"] == "Fulfilled" and state["intent"]["name"] == "FallbackIntent"
    assert response["messages"] == [{"contentType": "PlainText", "content": "Hello there."}]


def test_qnabot_session_attributes_are_set_as_strings():
    request = Request(session_id="s1", transcript="How much?",
                      raw_session_attributes={"mine": "kept", "qnabot_qid": "stale"},
                      session_attributes={"mine": "kept"})
    answer = Answer("Cheap.", "qna", qid="Cost.1", session_attributes={"plan": "gold"})
    attributes = respond(answer, request, topic="Pricing")["sessionState"]["sessionAttributes"]
    assert all(isinstance(v, str) for v in attributes.values())
    assert attributes["qnabot_qid"] == "Cost.1" and attributes["qnabot_gotanswer"] == "true"
    assert attributes["mine"] == "kept" and attributes["plan"] == "gold"
    context = json.loads(attributes["qnabotcontext"])
    assert context["previous"] == {"qid": "Cost.1", "q": "How much?"}
    assert context["topic"] == "Pricing" and attributes["topic"] == "Pricing"


def test_no_hits_sets_gotanswer_false_and_an_empty_qid():
    attributes = respond(Answer("Stumped.", "no_hits"))["sessionState"]["sessionAttributes"]
    assert (attributes["qnabot_gotanswer"], attributes["qnabot_qid"]) == ("false", "")


def test_app_context_carries_markdown_ssml_and_the_card_for_the_web_ui():
    card = fit_card(Card(title="Echo Show", image_url="https://example.com/e.jpg",
                         buttons=(Button("FireTV", "What is Amazon Fire TV?"),)))
    answer = Answer("Plain.", "qna", qid="A.1", markdown="**Rich**", card=card)
    app = json.loads(respond(answer)["sessionState"]["sessionAttributes"]["appContext"])
    assert app["altMessages"] == {"markdown": "**Rich**", "ssml": "<speak>Plain.</speak>"}
    attachment = app["responseCard"]["genericAttachments"][0]
    assert attachment["title"] == "Echo Show"
    assert attachment["buttons"] == [{"text": "FireTV", "value": "What is Amazon Fire TV?"}]


def test_the_card_is_sent_as_an_image_response_card():
    card = fit_card(Card(title="Echo Show", subtitle="",
                         buttons=(Button("Yes", "yes"),)))
    messages = respond(Answer("Plain.", "qna", card=card))["messages"]
    assert messages[1] == {"contentType": "ImageResponseCard", "imageResponseCard": {
        "title": "Echo Show", "buttons": [{"text": "Yes", "value": "yes"}]}}


def test_cards_are_fitted_to_lex_limits():
    card = fit_card(Card(
        title="T" * 300, subtitle="S" * 300, image_url="https://example.com/" + "i" * 300,
        buttons=(Button("", ""), Button("Long value", "v" * 51),
                 *(Button(f"Button {n} " + "x" * 60, f"value {n}") for n in range(7)))))
    assert len(card.title) == 250 and len(card.subtitle) == 250
    assert card.image_url == ""  # over 250 characters: left out rather than broken
    assert len(card.buttons) == 5
    assert all(len(b.text) <= 50 and len(b.value) <= 50 for b in card.buttons)
    assert "Long value" not in [b.text for b in card.buttons]


def test_an_empty_card_is_not_sent():
    assert fit_card(Card(buttons=(Button("", ""),))) is None
    assert "ImageResponseCard" not in json.dumps(respond(Answer("x", "qna"))["messages"])


def test_voice_clients_get_ssml():
    request = Request(session_id="s1", transcript="hi", accepts_ssml=True)
    message = respond(Answer("Fish & chips.", "qna"), request)["messages"][0]
    assert message == {"contentType": "SSML", "content": "<speak>Fish &amp; chips.</speak>"}


def test_an_items_ssml_is_used_for_voice_and_stripped_of_unknown_tags():
    request = Request(session_id="s1", transcript="hi", accepts_ssml=True)
    answer = Answer("Hi", "qna", ssml='<speak>Hi <break time="1s"/><audio src="x"/>there'
                                      '</speak>')
    content = respond(answer, request)["messages"][0]["content"]
    assert content == '<speak>Hi <break time="1s"/>there</speak>'


def test_long_answers_are_split_into_messages_lex_accepts():
    text = ("A sentence of several words. " * 80).strip()
    messages = respond(Answer(text, "qna"))["messages"]
    assert len(messages) == 3
    assert all(len(m["content"]) <= 1000 for m in messages)
    assert " ".join(m["content"] for m in messages) == text
