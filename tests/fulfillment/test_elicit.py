"""Elicit response in the pipeline with a response bot that speaks SSML (as QnABot's Lex PIN
bot does): spoken as SSML on voice, shown without tags in text."""

from __future__ import annotations

from fulfillment.lex_response import build_response
from fulfillment.model import Request
from fulfillment.response_bots import BotTurn

from .conftest import build_kb, make_pipeline

PIN_ITEM = {"qid": "Pin.Ask", "q": ["Check my PIN"], "a": "Say your PIN.",
            "elicitResponse": {"responsebot_hook": "QNAPin",
                               "response_sessionattr_namespace": "pin"}}
SPOKEN = '<speak>Is <say-as interpret-as="digits">1234</say-as> correct (Yes or No)?'


class SpeakingBots:
    def __init__(self):
        self.calls = []

    def recognize(self, bot, text, *, user_id, state, progress=""):
        self.calls.append((bot, text, progress))
        return BotTurn("ConfirmIntent", SPOKEN, {"Pin": "1234"})


def test_an_ssml_prompt_is_spoken_on_voice_and_plain_in_text(tmp_path, settings):
    bots = SpeakingBots()
    pipeline = make_pipeline(build_kb(tmp_path / "k.sqlite", [PIN_ITEM], fixtures=False))
    pipeline.services.response_bots = bots
    pipeline = type(pipeline)(pipeline.services)  # the stages take the bots when built
    asked = pipeline.run(Request("s1", "Check my PIN"), settings)
    context = asked.answer.context["elicitResponse"]
    turn = pipeline.run(Request("s1", "1 2 3 4", accepts_ssml=True, session_attributes={
        "qnabotcontext": {"elicitResponse": context}}), settings)
    assert bots.calls == [("QNAPin", "1 2 3 4", "")]
    assert turn.answer.text == "Is 1234 correct (Yes or No)?"
    assert turn.answer.ssml.startswith('<speak>Is <say-as interpret-as="digits">1234')
    assert turn.answer.ssml.endswith("</speak>")
    message = build_response(turn)["messages"][0]
    assert message["contentType"] == "SSML" and "say-as" in message["content"]


def test_a_caller_confirms_with_the_keypad_as_in_qnabot(tmp_path, settings):
    bots = SpeakingBots()
    pipeline = make_pipeline(build_kb(tmp_path / "k.sqlite", [PIN_ITEM], fixtures=False))
    pipeline.services.response_bots = bots
    pipeline = type(pipeline)(pipeline.services)
    connect = {"x-amz-lex:accept-content-types": "PlainText,SSML"}
    waiting = {"qnabotcontext": {"elicitResponse": {
        "responsebot": "QNAPin", "namespace": "pin", "progress": "ConfirmIntent"}}}
    for pressed, heard in (("1", "Yes"), ("two", "No"), ("1234", "1234")):
        pipeline.run(Request("s1", pressed, request_attributes=connect,
                             session_attributes=waiting), settings)
        assert bots.calls[-1][1] == heard
    pipeline.run(Request("s1", "1", session_attributes=waiting), settings)  # web chat: as typed
    assert bots.calls[-1][1] == "1"
