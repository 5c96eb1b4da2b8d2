"""Per-turn and feedback metrics records: QnABot's field names, redaction, the local store."""

from __future__ import annotations

import json

import pytest

from fulfillment import handler, metrics
from fulfillment.lex_event import make_event
from fulfillment.metrics_sqlite import SqliteMetricsSink
from knowledge.settings import Settings, validate_updates

from .conftest import make_pipeline


@pytest.fixture
def sink(tmp_path, monkeypatch):
    """The local SQLite sink in a fresh home, as `qnabot serve` and `qnabot chat` use it."""
    monkeypatch.setenv("QNABOT_HOME", str(tmp_path))
    monkeypatch.setenv("QNABOT_METRICS", "sqlite")
    metrics.set_metrics_sink(None)
    opened = metrics.get_metrics_sink()
    assert isinstance(opened, SqliteMetricsSink)
    return opened


@pytest.fixture
def bot(kb, use_service):
    """The handler over the fixture knowledge base."""
    use_service(make_pipeline(kb))


def ask(text, attributes=None):
    return handler.lambda_handler(make_event(text, session_id="s1",
                                             session_attributes=attributes or {}), None)


def test_each_turn_is_recorded_with_qnabots_field_names(sink, bot):
    ask("What is an Amazon Echo Show")
    ask("Name the capital city of Peru")
    answered, unanswered = sink.turns()
    assert {"datetime", "sessionId", "utterance", "answer", "qid", "topic", "clientType",
            "tags", "answerSource", "got_hits", "llm_calls", "llm_ms", "latency_ms"} <= set(answered)
    assert (answered["qid"], answered["got_hits"], answered["clientType"]) == (
        "Alexa.001", 1, "LEX.Text")
    assert answered["utterance"] == "What is an Amazon Echo Show"
    assert (unanswered["got_hits"], unanswered["answerSource"]) == (0, "no_hits")


def test_the_chat_pages_welcome_turn_is_recorded_as_such_and_a_typed_hello_is_not(sink, bot):
    welcome = {metrics.WELCOME_ATTRIBUTE: "true"}
    handler.lambda_handler(make_event("Hello", session_id="s1", request_attributes=welcome),
                           None)
    ask("Hello")
    opened, typed = sink.turns()
    assert (opened["utterance"], opened["welcome"]) == ("Hello", True)
    assert (typed["utterance"], typed["welcome"]) == ("Hello", False)


def test_thumbs_utterances_record_feedback_on_the_previous_answer(sink, bot):
    response = ask("What is an Amazon Echo Show")
    ask("Thumbs down", response["sessionState"]["sessionAttributes"])
    [feedback] = sink.feedback()
    assert (feedback["feedback"], feedback["qid"], feedback["utterance"]) == (
        "thumbs_down", "Alexa.001", "What is an Amazon Echo Show")
    # The turn's own record says it gave feedback, so the analytics count it as no question.
    asked, judged = sink.turns()
    assert (asked["feedback"], judged["feedback"]) == ("", "thumbs_down")


def test_redacting_hides_matches_in_the_record():
    settings = Settings.from_overrides(validate_updates(
        {"ENABLE_REDACTING": "true", "REDACTING_REGEX": r"\b\d{4}\b"}))
    redact = metrics.redactor(settings)
    assert redact("my pin is 1234") == "my pin is XXXXXX"


def test_a_broken_sink_never_costs_an_answer(bot):
    class Broken:
        def record_turn(self, record):
            raise OSError("disk full")

        record_feedback = record_turn

    metrics.set_metrics_sink(Broken())
    response = ask("What is an Amazon Echo Show")
    assert response["messages"][0]["content"].startswith("Echo Show")


def test_records_survive_a_reopen_and_read_by_time(tmp_path):
    path = tmp_path / "metrics.sqlite"
    SqliteMetricsSink(path).record_turn({"datetime": "2026-01-01T09:00:00.000+00:00", "qid": "A"})
    SqliteMetricsSink(path).record_turn({"datetime": "2026-01-03T09:00:00.000+00:00", "qid": "B"})
    assert [r["qid"] for r in SqliteMetricsSink(path).turns(since="2026-01-02")] == ["B"]
    assert json.loads(json.dumps(SqliteMetricsSink(path).turns()))[0]["qid"] == "A"
