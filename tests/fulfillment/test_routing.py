"""Bot routing to a Lex V2 specialty bot through the runtime port (botocore Stubber)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

from fulfillment.lex_runtime import LexRuntime
from fulfillment.model import Request
from fulfillment.routing import BotReply, BotRoutingError, SpecialtyBots, StubBot

from .conftest import build_kb, make_pipeline

TARGET = "lexv2::ORDERBOT01/ALIAS01/en_GB"


def stubbed():
    client = boto3.client("lexv2-runtime", region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_a_lex_specialty_bot_gets_the_merged_attributes_and_its_reply_is_read():
    client, stub = stubbed()
    stub.add_response("recognize_text", {
        "sessionState": {"dialogAction": {"type": "ElicitSlot", "slotToElicit": "Type"},
                         "intent": {"name": "OrderFlowers", "state": "InProgress",
                                    "slots": {}},
                         "sessionAttributes": {"customer": "Ann", "step": "1"}},
        "messages": [{"contentType": "PlainText", "content": "Which flowers?"},
                     {"contentType": "ImageResponseCard",
                      "imageResponseCard": {"title": "Flowers", "buttons": [
                          {"text": "Roses", "value": "roses"}]}}],
        "sessionId": "user-1"},
        {"botId": "ORDERBOT01", "botAliasId": "ALIAS01", "localeId": "en_GB",
         "sessionId": "user-1", "text": "order flowers",
         "sessionState": {"sessionAttributes": {"customer": "Ann", "cart": json.dumps([1])}}})
    bots = SpecialtyBots(lex=LexRuntime(client), environ={})
    with stub:
        reply = bots.send(TARGET, "order flowers", user_id="user-1",
                          session_attributes={"customer": "Ann", "cart": [1]}, prefix="qna-")
    assert reply.message == "Which flowers?"
    assert reply.dialog_state == "ElicitSlot"
    assert reply.session_attributes == {"customer": "Ann", "step": "1"}
    assert reply.card.title == "Flowers" and reply.card.buttons[0].value == "roses"


def test_a_fallback_reply_is_failed_and_an_error_names_the_bot():
    client, stub = stubbed()
    stub.add_response("recognize_text", {
        "sessionState": {"dialogAction": {"type": "Close"},
                         "intent": {"name": "FallbackIntent", "state": "Failed"}},
        "messages": [{"contentType": "PlainText", "content": "Sorry?"}],
        "sessionId": "user-1"}, {"botId": ANY, "botAliasId": ANY, "localeId": ANY,
                                 "sessionId": ANY, "text": ANY, "sessionState": ANY})
    stub.add_client_error("recognize_text", "AccessDeniedException", "not allowed")
    bots = SpecialtyBots(lex=LexRuntime(client), environ={})
    with stub:
        assert bots.send(TARGET, "hm", user_id="user-1", session_attributes={},
                         prefix="qna-").dialog_state == "Failed"
        with pytest.raises(BotRoutingError, match="ORDERBOT01 failed"):
            bots.send(TARGET, "hm", user_id="user-1", session_attributes={}, prefix="qna-")


def test_targets_that_are_no_bot_or_outside_the_prefix_are_refused():
    bots = SpecialtyBots(environ={})
    with pytest.raises(BotRoutingError, match="neither lexv2"):
        bots.send("OrderBot", "hi", user_id="u1", session_attributes={}, prefix="qna-")
    with pytest.raises(BotRoutingError, match="allowed prefix"):
        bots.send("Lambda::rm-everything", "hi", user_id="u1", session_attributes={},
                  prefix="qna-")


def test_a_bot_done_with_its_start_up_text_gives_the_conversation_straight_back(
        tmp_path, settings):
    item = {"qid": "specialty.Hours", "q": ["Ask the hours bot"], "a": "Asking.",
            "botRouting": {"specialty_bot": "lexv2::HOURSBOT1/ALIAS1",
                           "specialty_bot_name": "Hours",
                           "specialty_bot_start_up_text": "opening hours"}}
    stub = StubBot(lambda text, attributes: BotReply("We open at 9.", "Close"))
    pipeline = make_pipeline(build_kb(tmp_path / "k.sqlite", [item], fixtures=False))
    pipeline.services.specialty_bots = SpecialtyBots(stubs={"lexv2::HOURSBOT1/ALIAS1": stub},
                                                     environ={})
    pipeline = type(pipeline)(pipeline.services)
    turn = pipeline.run(Request("s1", "Ask the hours bot"), settings)
    assert stub.heard == ["opening hours"]
    assert turn.answer.text == "Asking. We open at 9. Welcome back to QnABot."
    assert "specialtyBot" not in turn.answer.context
