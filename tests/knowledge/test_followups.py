"""Which questions lean on the previous turn."""

import pytest

from knowledge.followups import needs_context


@pytest.mark.parametrize("question", [
    "How much does it cost?", "Where can I buy one?", "What happened after he fell? Was he OK?",
    "And on weekends?", "what about the ferry", "Can I bring my bike on it?", "Who operates them?",
    "Is that free?", "How do I get there?"])
def test_follow_ups_need_context(question):
    assert needs_context(question)


@pytest.mark.parametrize("question", [
    "How much does a monthly pass cost?", "What is the capital of Peru?", "Is there a bike rack on buses?",
    "Are there any discounts for seniors?", "Is the ferry running this week?", "", "   ",
    "Tell me about the Alexa device with the screen", "Do you have no one at the desk?"])
def test_standalone_questions_do_not(question):
    assert not needs_context(question)
