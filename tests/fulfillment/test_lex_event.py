"""Reading Lex V2 code-hook events the way QnABot reads them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fulfillment.lex_event import MalformedEventError, make_event, parse_event

from .lex_events import connect_voice_event, dtmf_event, qid_intent_event, text_event


def test_a_typed_question_is_read_with_its_session_and_locale():
    request = parse_event(text_event("What is Amazon Lex?", session_id="abc"))
    assert (request.session_id, request.transcript, request.input_mode, request.locale) == (
        "abc", "What is Amazon Lex?", "Text", "en_US")
    assert request.channel == "text" and not request.accepts_ssml


def test_a_connect_call_that_accepts_ssml_is_a_voice_turn():
    request = parse_event(connect_voice_event("what is lex"))
    assert request.accepts_ssml and request.channel == "voice"
    assert request.input_mode == "Speech"


def test_dtmf_input_is_recognised():
    assert parse_event(dtmf_event("1")).input_mode == "DTMF"


def test_a_qid_intent_asks_for_that_item_with_dot_escapes_undone():
    request = parse_event(qid_intent_event("Alexa.Cost.001", "how much is the echo"))
    assert request.qid == "Alexa.Cost.001"
    assert request.intent_name == "QID-INTENT-Alexa_dot_Cost_dot_001"


def test_json_session_attributes_are_parsed_and_others_kept_as_strings():
    request = parse_event(text_event("hi", session_attributes={
        "qnabotcontext": '{"topic": "EchoShow", "previous": {"qid": "Alexa.001"}}',
        "name": "Jo", "broken": "{not json"}))
    assert request.topic == "EchoShow"
    assert request.session_attributes["name"] == "Jo"
    assert request.session_attributes["broken"] == "{not json"
    assert request.raw_session_attributes["qnabotcontext"].startswith("{")


def test_control_characters_and_invalid_unicode_are_cleaned_and_long_input_is_capped():
    request = parse_event(text_event("Hi\x00\x07 there\ud800\n" + "x" * 50_000))
    assert request.transcript.startswith("Hi there")
    assert "\x00" not in request.transcript and len(request.transcript) <= 1024
    request.transcript.encode("utf-8")  # valid UTF-8


@pytest.mark.parametrize("event, problem", [
    (None, "expected a JSON object"),
    ({"inputTranscript": "hi"}, "sessionId"),
    ({"sessionId": "s", "inputTranscript": ["hi"]}, "inputTranscript must be a string"),
    ({"sessionId": "s", "sessionState": 3}, "sessionState must be an object"),
])
def test_malformed_events_are_refused_with_the_field_named(event, problem):
    with pytest.raises(MalformedEventError, match=problem):
        parse_event(event)


def test_make_event_builds_what_lex_sends():
    event = make_event("What is Amazon Lex?", session_id="cli", channel="voice",
                       session_attributes={"topic": "Lex"})
    request = parse_event(event)
    assert (request.session_id, request.channel, request.topic) == ("cli", "voice", "Lex")
    assert event["sessionState"]["intent"]["name"] == "FallbackIntent"


@given(st.dictionaries(st.sampled_from(["sessionId", "inputTranscript", "inputMode", "bot",
                                        "sessionState", "requestAttributes"]),
                       st.none() | st.integers() | st.text() | st.lists(st.text()) |
                       st.dictionaries(st.text(), st.text() | st.none()), max_size=6))
def test_parsing_any_json_either_succeeds_or_says_what_is_malformed(event):
    try:
        request = parse_event(event)
    except MalformedEventError:
        return
    assert isinstance(request.transcript, str)
    assert all(isinstance(v, str) for v in request.raw_session_attributes.values())
