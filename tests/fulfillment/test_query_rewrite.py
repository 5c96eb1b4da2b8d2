"""When a follow-up is rewritten by the LLM, and how its reply is cleaned."""

from __future__ import annotations

import pytest

from fulfillment.memory import ChatMessage
from fulfillment.query_rewrite import clean_generated_query, decide, search_string

HISTORY = (ChatMessage("user", "What is Amazon Lex?"), ChatMessage("assistant", "A service."))


def decision(question, history=HISTORY, llm_enabled=True, **overrides):
    from knowledge.settings import Settings

    return decide(question, history, Settings.defaults().with_overrides(**overrides),
                  llm_enabled=llm_enabled)


def test_the_rewrite_is_skipped_by_qnabots_rules():
    assert decision("Can it integrate with my CRM?", history=()).reason == "no history"
    assert decision("thumbs up").reason == "protected utterance"
    assert decision("QID::Alexa.001").reason == "QID:: question"
    assert decision("Can it?", LLM_GENERATE_QUERY_ENABLE=False).ask is False
    assert decision("Can it?", llm_enabled=False).reason == "llm disabled"


def test_the_rewrite_is_skipped_for_a_self_contained_question_and_asked_for_a_follow_up():
    assert decision("What is Amazon Fire TV?").reason == "self-contained question"
    assert decision("Can it integrate with my CRM?").ask


def test_qnabot_behaviour_rewrites_every_question_with_history():
    from knowledge.settings import Settings

    assert decide("What is Amazon Fire TV?", HISTORY, Settings.defaults(), llm_enabled=True,
                  smart_skip=False).ask


@pytest.mark.parametrize("reply, expected", [
    ("Can Amazon Lex integrate with my CRM?", "Can Amazon Lex integrate with my CRM?"),
    ('"Can Amazon Lex integrate with my CRM?"', "Can Amazon Lex integrate with my CRM?"),
    ("Here is the standalone question:\n\nCan Amazon Lex integrate with a CRM?\n\nI kept...",
     "Can Amazon Lex integrate with a CRM?"),
    ("Standalone question: What does Echo Show cost?", "What does Echo Show cost?"),
    ("  \n  ", ""),
    ("x" * 5000, "x" * 1000),
])
def test_the_llms_rewrite_is_cleaned_to_one_line(reply, expected):
    assert clean_generated_query(reply) == expected


def test_the_search_string_is_original_slash_rewritten():
    assert search_string("Can it?", "Can Lex?") == "Can it? / Can Lex?"
    assert search_string("Same", "same") == "Same"
