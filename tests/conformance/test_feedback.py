"""Thumbs up / down: QnABot's feedback items and built-in hook record a verdict on the
previous answer (the chat page sends "Thumbs up" / "Thumbs down")."""

from __future__ import annotations

from .conftest import context, said


def test_thumbs_up_and_down_record_feedback_on_the_previous_answer_once(conversation, feedback):
    chat = conversation()
    chat.ask("What is an Amazon Echo Show")
    up = chat.ask("Thumbs up")
    assert said(up).startswith("Thank you for your positive feedback")
    # QnABot's feedback item (its hook) answered the thumbs utterance: one record, not two
    assert [(r["feedback"], r["qid"], r["utterance"]) for r in feedback.records] == [
        ("thumbs_up", "Alexa.001", "What is an Amazon Echo Show")]
    # the feedback turn does not become the answer judged next
    assert context(up)["previous"]["qid"] == "Alexa.001"
    down = chat.ask("Thumbs down")
    assert said(down) == "Thank you for your feedback - we will try to improve this answer."
    assert [(r["feedback"], r["qid"]) for r in feedback.records[1:]] == [
        ("thumbs_down", "Alexa.001")]


def test_feedback_in_other_words_is_recorded_once_through_the_feedback_item(conversation,
                                                                            feedback):
    chat = conversation()
    chat.ask("What is an Amazon Echo Show")
    chat.ask("Bad answer")  # a question of QnABot's Feedback.001, not a thumbs phrase
    assert [(r["feedback"], r["qid"]) for r in feedback.records] == [
        ("thumbs_down", "Alexa.001")]
    # Its turn record says it judged an answer, so the analytics do not count it as asked.
    assert [(t["utterance"], t["feedback"]) for t in feedback.turns] == [
        ("What is an Amazon Echo Show", ""), ("Bad answer", "thumbs_down")]
