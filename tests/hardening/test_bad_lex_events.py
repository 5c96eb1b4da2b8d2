"""Bad Lex V2 events through the fulfillment handler: each gets a graceful answer or the error
message, a log line, and a response Lex accepts; never a traceback, and nothing is lost.

Parsing alone is covered in ``tests/fulfillment/test_lex_event.py``; here every case goes
through ``lambda_handler`` as Lex would send it.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from fulfillment.handler import lambda_handler
from tests.fulfillment.lex_events import LexConversation, first_text, qid_intent_event, text_event
from tests.hardening.conftest import ERROR_MESSAGE, assert_proper_lex_response, make_pipeline

LEX_ANSWER = "Amazon Lex is an AWS service"
QUESTION = "What is Amazon Lex?"


def with_state(event: dict, **state) -> dict:
    event["sessionState"].update(state)
    return event


def graceful_cases() -> dict[str, tuple[dict, str]]:
    """name -> (event, how the answer starts)."""
    no_hits = "You stumped me"
    return {
        "whitespace-only transcript": (text_event(" \t\n  "), ERROR_MESSAGE),
        "empty transcript": (text_event(""), ERROR_MESSAGE),
        "transcript null": ({**text_event(""), "inputTranscript": None}, ERROR_MESSAGE),
        "50,000-character transcript": (text_event((QUESTION + " ") * 2_500), LEX_ANSWER),
        "control characters": (text_event("\x00\x07What\x1b[31m is\x7f Amazon Lex?\u202e"),
                               LEX_ANSWER),
        "invalid unicode": (text_event("What is Amazon Lex?\ud800\udfff"), LEX_ANSWER),
        "attribute not JSON": (text_event(QUESTION, session_attributes={
            "qnabotcontext": "{not json", "topic": "[1, 2"}), LEX_ANSWER),
        "attribute of 1 MB": (text_event(QUESTION, session_attributes={
            "qnabotcontext": "{" + '"k": 1, ' * 130_000 + '"z": 0}'}), LEX_ANSWER),
        "attribute nested 40,000 deep": (text_event(QUESTION, session_attributes={
            "qnabotcontext": "[" * 40_000 + "]" * 40_000}), LEX_ANSWER),
        "context of the wrong shape": (text_event(QUESTION, session_attributes={
            "qnabotcontext": '{"topic": 5, "previous": "Lex.001"}', "topic": '{"t": 1}'}),
            LEX_ANSWER),
        "attributes not an object": (with_state(text_event(QUESTION), sessionAttributes=[1, 2]),
                                     LEX_ANSWER),
        "attribute values not strings": (with_state(text_event(QUESTION), sessionAttributes={
            "n": 5, "d": {"a": 1}, "none": None, "ok": "fine"}), LEX_ANSWER),
        "attribute names and values not valid unicode": (text_event(QUESTION, session_attributes={
            "name\udfff": "value\ud800"}), LEX_ANSWER),
        "unknown intent": (text_event(QUESTION, intent="OrderPizzaIntent"), LEX_ANSWER),
        "intent name not a string": (with_state(text_event(QUESTION),
                                                intent={"name": 42, "slots": "x"}), LEX_ANSWER),
        "qid intent for a qid that does not exist": (
            qid_intent_event("No.Such.Item", QUESTION), LEX_ANSWER),
        "qid intent for a missing qid without words": (
            qid_intent_event("No.Such.Item", ""), no_hits),
        "QID:: question for a 5,000-character qid": (text_event("QID::" + "A" * 5000), no_hits),
        "input mode, bot and request attributes of the wrong types": (
            {**text_event(QUESTION), "inputMode": {"a": 1}, "bot": ["x"],
             "requestAttributes": {"x-amz-lex:accept-content-types": 5}}, LEX_ANSWER),
    }


CASES = graceful_cases()


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_event_gets_a_graceful_answer_and_one_turn_log_line(name, kb, use_service,
                                                                    turn_records):
    event, expected = CASES[name]
    use_service(make_pipeline(kb))

    response = lambda_handler(event, None)

    assert_proper_lex_response(response)
    assert first_text(response).startswith(expected)
    [record] = turn_records()
    assert len(record["question"]) <= 1024


def test_the_log_says_why_a_turn_was_degraded(kb, use_service, turn_records):
    use_service(make_pipeline(kb))
    lambda_handler(text_event("   "), None)
    lambda_handler(qid_intent_event("No.Such.Item", QUESTION), None)
    empty, missing = turn_records()
    assert empty["degraded"] == ["empty transcript"]
    assert "no QnA item with qid No.Such.Item" in missing["degraded"]
    assert missing["qid"] == "Lex.001"  # the words were answered instead


@pytest.mark.parametrize("event, field", [
    ({"sessionId": "", "inputTranscript": "hi"}, "sessionId"),
    ({"sessionId": "   ", "inputTranscript": "hi"}, "sessionId"),
    ({"sessionId": ["s"], "inputTranscript": "hi"}, "sessionId"),
    ({"sessionId": "s", "inputTranscript": {"text": "hi"}}, "inputTranscript"),
    ({"sessionId": "s", "inputTranscript": 3.5}, "inputTranscript"),
    ({"sessionId": "s", "inputTranscript": "hi", "sessionState": ["x"]}, "sessionState"),
    (42, "JSON object"),
    (b"\xff\xfe", "JSON object"),
], ids=["empty-session", "blank-session", "list-session", "dict-transcript", "number-transcript",
        "list-state", "number", "bytes"])
def test_a_malformed_event_gets_the_error_message_and_a_log_line_naming_the_field(
        event, field, kb, use_service, caplog):
    use_service(make_pipeline(kb))

    response = lambda_handler(event, None)

    assert_proper_lex_response(response)
    assert first_text(response) == ERROR_MESSAGE
    [warning] = [r for r in caplog.records if r.getMessage() == "malformed Lex event"]
    assert field in warning.error


def test_bad_events_lose_nothing_and_the_conversation_goes_on(kb, use_service):
    use_service(make_pipeline(kb))
    before = [item.to_json() for item in kb.store.iter_items()]
    conversation = LexConversation(lambda_handler, session_id="after-bad-events")
    assert first_text(conversation.ask(QUESTION)).startswith(LEX_ANSWER)

    for event, _ in CASES.values():
        lambda_handler({**event, "sessionId": "after-bad-events"}, None)
    reply = conversation.ask("Can it integrate with my CRM?")

    assert first_text(reply).startswith("Yes. Amazon Lex integrates with CRM")
    assert json.loads(reply["sessionState"]["sessionAttributes"]["qnabotcontext"])["topic"] == "Lex"
    assert [item.to_json() for item in kb.store.iter_items()] == before


# Everything Lex could carry in a string, surrogates and control characters included.
any_text = st.text(st.characters(codec=None, categories=None), max_size=60)


@hyp_settings(max_examples=100, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(transcript=any_text, attributes=st.dictionaries(
    any_text, any_text | st.sampled_from(["{", "[" * 3000 + "]" * 3000, '{"topic": []}']),
    max_size=4), intent=st.sampled_from(["FallbackIntent", "QID-INTENT-", "QID-INTENT-Lex_dot_001",
                                         "QID-INTENT-\ud800", "Unknown"]))
def test_any_text_in_any_field_gets_a_proper_lex_response(kb, use_service, transcript,
                                                          attributes, intent):
    use_service(make_pipeline(kb))
    response = lambda_handler(text_event(transcript, session_attributes=attributes,
                                         intent=intent), None)
    assert_proper_lex_response(response)
