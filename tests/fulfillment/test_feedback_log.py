"""Thumbs feedback from the chat lands where the content designer's feedback page reads it."""

from __future__ import annotations

from content_designer.feedback import FileFeedbackLog
from fulfillment.feedback_log import JsonlFeedbackLog


def test_feedback_records_are_listed_by_the_designers_feedback_log(tmp_path):
    path = tmp_path / "feedback.jsonl"
    JsonlFeedbackLog(path).record_feedback({
        "session_id": "s1", "qid": "Alexa.001", "question": "What is an Echo Show",
        "verdict": "down", "answer": "Echo Show ...", "feedback": "incorrect",
        "time": "2026-12-02T12:00:00+00:00"})
    records, total = FileFeedbackLog(path).list()
    assert total == 1
    assert (records[0].qid, records[0].verdict, records[0].question) == \
        ("Alexa.001", "down", "What is an Echo Show")
