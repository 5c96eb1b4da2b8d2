"""Dialog state comes back from the client in ``qnabotcontext``: whatever it holds, a turn
answers sensibly (never the error message, never a call the content did not allow)."""

from __future__ import annotations

import json

import pytest

from .conftest import context, said


def ask_with_context(conversation, text: str, qnabotcontext: dict) -> dict:
    chat = conversation()
    chat.attributes["qnabotcontext"] = json.dumps(qnabotcontext)
    return chat.ask(text)


@pytest.mark.parametrize("dialog", [
    {"responsebot": "QNAYesNo", "namespace": "x", "botState": "junk", "loopCount": "many"},
    {"responsebot": "QNAYesNo", "namespace": ["not", "text"], "chainingConfig": 42},
])
def test_malformed_elicit_state_still_reads_the_reply(conversation, dialog):
    response = ask_with_context(conversation, "yes", {"elicitResponse": dialog})
    assert said(response) == "OK."


def test_an_unknown_response_bot_is_retried_then_given_up(conversation):
    response = ask_with_context(conversation, "yes", {"elicitResponse": {
        "responsebot": "QNAEvil", "namespace": "x", "loopCount": 5}})
    assert said(response) == "Your response was not understood. Please start again."
    assert "elicitResponse" not in context(response)


def test_a_quiz_state_naming_no_quiz_item_ends_the_quiz(conversation):
    response = ask_with_context(conversation, "A", {"quiz": {
        "prev": "Alexa.001", "next": "", "order": "zzz", "questionCount": "x"}})
    assert said(response) == "Sorry, the quiz could not go on."
    assert "quiz" not in context(response)


def test_a_routing_target_outside_the_hook_prefix_is_never_called(conversation, lambdas):
    response = ask_with_context(conversation, "Start the harbor tour", {
        "specialtyBot": "Lambda::delete-everything", "specialtyBotName": "x"})
    assert said(response) == "Stop 1: the ferry dock."
    assert lambdas.calls == []
    assert "specialtyBot" not in context(response)


@pytest.mark.parametrize("navigation", [5, "abc", {"previous": 7, "next": {"x": 1}}])
def test_malformed_navigation_state_still_answers_next_and_previous(conversation, navigation):
    for text, reply in (("Next", "There is no next stop."),
                        ("Previous", "There is no previous stop.")):
        response = ask_with_context(conversation, text, {"navigation": navigation})
        assert said(response) == reply
