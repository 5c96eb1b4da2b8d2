"""QnABot's CONNECT_* settings on voice turns from Amazon Connect, through the handler."""

from __future__ import annotations

from fulfillment.handler import lambda_handler

from .conftest import MemorySettingsRepo, make_pipeline
from .lex_events import connect_voice_event, text_event

QUESTION = "What is an Amazon Echo Show"


def attributes(response):
    return response["sessionState"]["sessionAttributes"]


def test_by_default_lex_speaks_the_answer_and_the_next_prompt_is_silence(kb, use_service):
    use_service(make_pipeline(kb))
    response = lambda_handler(connect_voice_event(QUESTION), None)
    assert response["messages"][0]["content"].startswith("<speak>Echo Show brings you")
    assert attributes(response)["connect_nextPrompt"] == "<speak></speak>"


def test_with_interrupt_the_answer_becomes_the_flows_interruptible_prompt(kb, use_service):
    repo = MemorySettingsRepo(CONNECT_ENABLE_VOICE_RESPONSE_INTERRUPT="true",
                              CONNECT_NEXT_PROMPT_VARNAME="nextPrompt")
    use_service(make_pipeline(kb), repo)
    response = lambda_handler(connect_voice_event(QUESTION), None)
    assert attributes(response)["nextPrompt"].startswith("<speak>Echo Show brings you")
    assert response["messages"][0] == {"contentType": "SSML", "content": "<speak></speak>"}
    assert "connect_nextPrompt" not in attributes(response)


def test_a_turn_of_ignored_words_is_not_answered_and_the_bot_listens_again(kb, use_service):
    use_service(make_pipeline(kb), MemorySettingsRepo(CONNECT_IGNORE_WORDS="uh,um,a"))
    response = lambda_handler(connect_voice_event("Uh... um"), None)
    assert response["sessionState"]["dialogAction"] == {"type": "ElicitIntent"}
    assert "qnabot_qid" not in attributes(response)
    answered = lambda_handler(connect_voice_event(QUESTION), None)
    assert attributes(answered)["qnabot_qid"]


def test_text_turns_are_left_alone(kb, use_service):
    use_service(make_pipeline(kb), MemorySettingsRepo(CONNECT_IGNORE_WORDS="uh",
                                                      CONNECT_ENABLE_VOICE_RESPONSE_INTERRUPT="true"))
    response = lambda_handler(text_event("uh"), None)
    assert response["sessionState"]["dialogAction"] == {"type": "Close"}
    assert "connect_nextPrompt" not in attributes(response)
