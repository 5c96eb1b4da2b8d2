"""Response bots: the local dialog (confirm, fulfil, fail) and QnABot's Lex V2 bots through
the runtime port (botocore Stubber: the exact RecognizeText calls)."""

from __future__ import annotations

from datetime import datetime

import boto3
import pytest
from botocore.stub import Stubber

from fulfillment.lex_runtime import LexRuntime, bot_identity, lex_session_id
from fulfillment.response_bots import (
    LexResponseBots,
    LocalResponseBots,
    ResponseBotError,
    ResponseBotRouter,
)

ENV = {"QNAAge": "lexv2::AGEBOT0001/ALIAS00001/en_US",
       "QNAPhoneNumber": "lexv2::PHONEBOT01/ALIAS00002"}


def local() -> LocalResponseBots:
    return LocalResponseBots(clock=lambda: datetime(2026, 12, 2, 12))


def test_a_confirming_bot_asks_then_fulfils_on_yes_and_asks_again_on_no():
    bots = local()
    asked = bots.recognize("QNADate", "tomorrow", user_id="u", state={})
    assert (asked.dialog_state, asked.message) == ("ConfirmIntent",
                                                   "Is 2026-12-03 correct (Yes/No)?")
    done = bots.recognize("QNADate", "yes", user_id="u", state=asked.state)
    assert (done.dialog_state, done.slots) == ("Fulfilled", {"Date": "2026-12-03"})
    again = bots.recognize("QNADate", "no", user_id="u", state=asked.state)
    assert (again.dialog_state, again.message) == ("ElicitSlot", "Please tell me the date again.")
    # a new value instead of yes/no is read and confirmed afresh
    other = bots.recognize("QNADate", "December 24 2026", user_id="u", state=asked.state)
    assert other.message == "Is 2026-12-24 correct (Yes/No)?"


def test_no_confirm_bots_fulfil_at_once_and_bad_replies_fail():
    bots = local()
    assert bots.recognize("QNAPinNoConfirm", "4321", user_id="u", state={}).slots == \
        {"Pin": "4321"}
    assert bots.recognize("QNAPinNoConfirm", "43", user_id="u", state={}).dialog_state == \
        "Failed"
    assert bots.recognize("QNAYesNo", "sure", user_id="u", state={}).slots == {"Yes_No": "Yes"}
    free = bots.recognize("QNAFreeText", "Great stuff", user_id="u", state={})
    assert (free.dialog_state, free.message, free.slots["FreeText"]) == \
        ("Fulfilled", "", "Great stuff")


def test_every_qnabot_response_bot_is_known_locally():
    names = {"QNAYesNo", "QNAYesNoExit", "QNADate", "QNADateNoConfirm", "QNADayOfWeek",
             "QNAMonth", "QNAMonthNoConfirm", "QNANumber", "QNANumberNoConfirm", "QNAAge",
             "QNAAgeNoConfirm", "QNAPhoneNumber", "QNAPhoneNumberNoConfirm", "QNATime",
             "QNATimeNoConfirm", "QNAEmailAddress", "QNAName", "QNANameNoConfirm", "QNAPin",
             "QNAPinNoConfirm", "QNAWage", "QNASocialSecurity", "QNAFreeText"}
    assert names <= set(local().bots)
    with pytest.raises(ResponseBotError, match="unknown response bot 'QNAColour'"):
        local().recognize("QNAColour", "red", user_id="u", state={})


def lex_reply(intent: str, state: str, dialog: str, slots: dict, message: str = "") -> dict:
    return {
        "sessionState": {"dialogAction": {"type": dialog},
                         "intent": {"name": intent, "state": state, "confirmationState": "None",
                                    "slots": {k: {"value": {"originalValue": v,
                                                            "interpretedValue": v,
                                                            "resolvedValues": [v]}}
                                              for k, v in slots.items()}}},
        "messages": [{"contentType": "PlainText", "content": message}] if message else [],
        "sessionId": "session-1",
    }


def stubbed_runtime():
    client = boto3.client("lexv2-runtime", region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_lex_bots_are_asked_with_qnabots_parameters_and_read_as_qnabot_does():
    client, stub = stubbed_runtime()
    stub.add_response("recognize_text", lex_reply("AgeIntent", "InProgress", "ConfirmIntent",
                                                  {"Age": "42"}, "Is 42 correct (Yes/No)?"),
                      {"botId": "AGEBOT0001", "botAliasId": "ALIAS00001", "localeId": "en_US",
                       "sessionId": "user_1", "text": "42"})
    stub.add_response("recognize_text", lex_reply("AgeIntent", "Fulfilled", "Close",
                                                  {"Age": "42"}, "OK. "),
                      {"botId": "AGEBOT0001", "botAliasId": "ALIAS00001", "localeId": "en_US",
                       "sessionId": "user_1", "text": "yes"})
    stub.add_response("recognize_text", lex_reply("FallbackIntent", "InProgress", "Close", {}),
                      {"botId": "PHONEBOT01", "botAliasId": "ALIAS00002", "localeId": "en_US",
                       "sessionId": "user_1", "text": "my number is 555"})
    bots = ResponseBotRouter(local(), LexResponseBots(LexRuntime(client), environ=ENV))
    with stub:
        confirm = bots.recognize("QNAAge", "42", user_id="user 1", state={})
        done = bots.recognize("QNAAge", "yes", user_id="user 1", state={},
                              progress="ConfirmIntent")
        failed = bots.recognize("QNAPhoneNumber", "555", user_id="user 1", state={})
    assert (confirm.dialog_state, confirm.message) == ("ConfirmIntent", "Is 42 correct (Yes/No)?")
    assert (done.dialog_state, done.slots) == ("Close", {"Age": "42"})
    assert failed.dialog_state == "Failed"
    stub.assert_no_pending_responses()


def test_unmapped_bots_and_free_text_stay_local():
    client, stub = stubbed_runtime()
    bots = ResponseBotRouter(local(), LexResponseBots(LexRuntime(client), environ=ENV))
    with stub:  # no Lex call expected
        assert bots.recognize("QNAPin", "1234", user_id="u", state={}).dialog_state == \
            "ConfirmIntent"
        assert bots.recognize("QNAFreeText", "hi", user_id="u", state={}).slots["FreeText"] == "hi"


def test_a_failing_lex_call_is_a_response_bot_error():
    client, stub = stubbed_runtime()
    stub.add_client_error("recognize_text", "ResourceNotFoundException", "no such bot")
    bots = LexResponseBots(LexRuntime(client), environ=ENV)
    with stub, pytest.raises(ResponseBotError, match="no such bot"):
        bots.recognize("QNAAge", "42", user_id="u", state={})


def test_bot_names_and_session_ids_follow_qnabots_rules():
    assert bot_identity("lexv2::B/A", {}).locale_id == "en_US"
    assert bot_identity("lexv2::B", {}) is None
    assert bot_identity("QNAAge", ENV).bot_id == "AGEBOT0001"
    assert lex_session_id("us-east-1:abc/def ghi") == "us-east-1:abc_def_ghi"
    assert len(lex_session_id("x" * 300)) == 100
    assert lex_session_id("u") == "u_"  # Lex wants at least two characters
