"""Thumbs up / down: QnABot's feedback items and built-in hook record a verdict on the
previous answer (the chat page sends "Thumbs up" / "Thumbs down")."""

from __future__ import annotations

from .conftest import context, said


def test_thumbs_up_and_down_record_feedback_on_the_previous_answer(conversation, feedback):
    chat = conversation()
    chat.ask("What is an Amazon Echo Show")
    up = chat.ask("Thumbs up")
    assert said(up).startswith("Thank you for your positive feedback")
    assert feedback.records[0]["qid"] == "Alexa.001"
    assert feedback.records[0]["question"] == "What is an Amazon Echo Show"
    assert (feedback.records[0]["verdict"], feedback.records[0]["feedback"]) == ("up", "correct")
    assert feedback.records[0]["answer"].startswith("Echo Show brings you everything")
    # the feedback turn does not become the answer judged next
    assert context(up)["previous"]["qid"] == "Alexa.001"
    down = chat.ask("Thumbs down")
    assert said(down) == "Thank you for your feedback - we will try to improve this answer."
    assert (feedback.records[1]["qid"], feedback.records[1]["verdict"]) == ("Alexa.001", "down")
