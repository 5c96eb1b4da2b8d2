"""The analytics route and the pages' runtime configuration."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from content_designer.analytics import summarize
from content_designer.api import create_app
from content_designer.local_server import LocalApi
from fulfillment import handler, metrics
from tests.content_designer.conftest import ApiClient
from tests.fulfillment.conftest import LEX_ITEMS, MemorySettingsRepo, build_kb, make_pipeline


def turn(day: str, utterance: str, qid: str = "", got_hits: int = 1, **extra) -> dict:
    return {"datetime": f"{day}T10:00:00.000+00:00", "utterance": utterance, "qid": qid,
            "got_hits": got_hits, "answerSource": "qna" if got_hits else "no_hits",
            "sessionId": "s1", **extra}


def test_summary_counts_per_day_and_groups_questions_ignoring_case_and_punctuation():
    turns = [turn("2026-03-01", "Where is the ferry?", "Ferry.1"),
             turn("2026-03-02", "where is the FERRY", "Ferry.1"),
             turn("2026-03-02", "Capital of Peru?", "CustomNoMatches", got_hits=0),
             turn("2026-03-02", "capital of peru", got_hits=0),
             turn("2026-03-02", "Thumbs down"),  # feedback, not a question
             # QnABot's feedback item judged it (its record says so): no question either
             turn("2026-03-02", "Good answer", "Feedback.001", feedback="thumbs_up"),
             turn("2026-02-01", "Too old", "Old.1")]
    feedback = [{"datetime": "2026-03-02T10:01:00+00:00", "feedback": "thumbs_down",
                 "qid": "Ferry.1", "utterance": "Where is the ferry?"}]
    result = summarize(turns, feedback, days=3, today=date(2026, 3, 2))
    assert result["totals"] == {"asked": 4, "answered": 2, "unanswered": 2,
                                "answer_rate": 0.5, "sessions": 1, "opened": 0}
    assert [d["asked"] for d in result["per_day"]] == [0, 1, 3]
    assert result["top_questions"][0]["count"] == 2
    assert result["top_unanswered"] == [{"question": "Capital of Peru?", "count": 2, "qid": "",
                                         "last": "2026-03-02T10:00:00.000+00:00"}]
    assert result["feedback"]["items"] == [{"qid": "Ferry.1", "up": 0, "down": 1}]


def test_a_suggestion_taken_is_a_question_to_add_to_the_item_chosen():
    day = "2026-03-02"
    turns = [
        # s1: unanswered, buttons, the asker taps Fares.Cash (sent as its question)
        turn(day, "pay with dollar bills?", "CustomNoMatches", got_hits=0,
             suggested="Fares.Cash,Fares.Adult"),
        turn(day, "Can I pay with cash?", "Fares.Cash"),
        # s2: the same wording, the button sent as QID::; interleaved with s3
        turn(day, "Pay with dollar bills", "CustomNoMatches", got_hits=0,
             suggested="Fares.Cash", sessionId="s2"),
        turn(day, "ferry price", "CustomNoMatches", got_hits=0,
             suggested="Ferry.Fare", sessionId="s3"),
        turn(day, "QID::Fares.Cash", "Fares.Cash", sessionId="s2"),
        # s3 asked something else next: the buttons were not taken
        turn(day, "What is the weather?", "CustomNoMatches", got_hits=0, sessionId="s3"),
    ]
    result = summarize(turns, [], days=1, today=date(2026, 3, 2))
    assert result["suggestions"] == {
        "offered": 3, "taken": 2,
        "taken_questions": [{"question": "pay with dollar bills?", "qid": "Fares.Cash",
                             "count": 2}]}
    # a tapped QID:: reference is no wording to list among the top questions
    assert "QID::Fares.Cash" not in [row["question"] for row in result["top_questions"]]


def test_analytics_route_reads_the_local_metrics_store(client, services):
    today = datetime.now(UTC).date().isoformat()
    services.metrics.record_turn(turn(today, "Is there wifi?", got_hits=0, llm_calls=1,
                                      llm_ms=420.0, latency_ms=450.0))
    services.metrics.record_turn(turn(today, "Is there wifi on the bus?", "Bus.Wifi",
                                      latency_ms=12.0))
    client.post("/feedback", {"session_id": "s1", "qid": "Bus.Wifi",
                              "question": "Is there wifi on the bus?", "verdict": "up"},
                auth=False)
    result = client.get("/analytics?days=7").json()
    assert result["totals"]["asked"] == 2 and result["totals"]["unanswered"] == 1
    assert result["top_unanswered"][0]["question"] == "Is there wifi?"
    assert result["llm"] == {"calls": 1, "turns": 1, "median_ms": 420.0, "p95_ms": 420.0}
    assert result["feedback"]["up"] == 1  # the page's POST feedback counts too
    assert client.get("/analytics", auth=False).status == 401


def test_config_js_tells_the_pages_how_to_talk_to_this_server(client):
    reply = client.get("/config.js", auth=False)
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/javascript")
    assert reply.body.startswith("window.QNABOT_CONFIG = Object.freeze(")
    assert '"auth":"token"' in reply.body and '"transport":"local"' in reply.body
    assert '"streaming":false' in reply.body


@pytest.fixture
def bot_client(make_services, tmp_path):
    """A client whose chat goes through the fulfillment handler, its turns recorded in the
    designer's metrics store (as `qnabot serve` records them)."""
    services = make_services(handler.lambda_handler)
    kb = build_kb(tmp_path / "k.sqlite", LEX_ITEMS)
    handler.set_service(handler.FulfillmentService(make_pipeline(kb), MemorySettingsRepo()))
    metrics.set_metrics_sink(services.metrics)
    yield ApiClient(LocalApi(create_app(services)))
    handler.set_service(None)
    metrics.set_metrics_sink(None)


def chat(client, text: str, session: str, **request_attributes: str) -> None:
    reply = client.post("/chat", {"text": text, "session_id": session,
                                  "request_attributes": request_attributes}, auth=False)
    assert reply.status == 200, reply.body


def test_chat_pages_opening_is_not_a_question_but_a_typed_hello_is(bot_client):
    for page_load in ("page-1", "page-2", "page-3"):  # the chat page says Hello on its own
        chat(bot_client, "Hello", page_load, qnabot_welcome="true")
    chat(bot_client, "hello", "page-1")  # then somebody types it
    chat(bot_client, "What is an Amazon Echo Show", "page-2")
    result = bot_client.get("/analytics?days=7").json()
    assert result["totals"]["asked"] == 2 and result["totals"]["opened"] == 3
    assert result["totals"]["sessions"] == 2
    assert sum(day["asked"] for day in result["per_day"]) == 2
    assert sorted((q["question"], q["count"]) for q in result["top_questions"]) == [
        ("What is an Amazon Echo Show", 1), ("hello", 1)]
    assert all(q["count"] == 1 for q in result["top_unanswered"])


def test_feedback_counts_each_verdict_once_from_the_metrics_and_the_older_log(client, services,
                                                                              home):
    now = datetime.now(UTC)
    hook_time = now.isoformat(timespec="seconds")
    # Before the feedback hook wrote through the metrics, one thumbs turn left two records:
    services.metrics.record_feedback({
        "datetime": (now + timedelta(milliseconds=300)).isoformat(timespec="milliseconds"),
        "sessionId": "s1", "feedback": "thumbs_down", "qid": "Bus.Wifi",
        "utterance": "Is there wifi on the bus?"})
    old_log = home / "feedback.jsonl"
    old_log.write_text(json.dumps({"session_id": "s1", "qid": "Bus.Wifi",
                                   "question": "Is there wifi on the bus?", "verdict": "down",
                                   "answer": "No.", "time": hook_time}) + "\n")
    # ... and the older route records a verdict of its own
    client.post("/feedback", {"session_id": "s2", "qid": "Bus.Wifi",
                              "question": "Is there wifi on the bus?", "verdict": "down"},
                auth=False)
    feedback = client.get("/analytics?days=7").json()["feedback"]
    assert (feedback["up"], feedback["down"]) == (0, 2)
    assert feedback["items"] == [{"qid": "Bus.Wifi", "up": 0, "down": 2}]
    assert len(feedback["recent"]) == 2
    assert client.get("/feedback").json()["total"] == 2  # the log itself is kept, as it was
