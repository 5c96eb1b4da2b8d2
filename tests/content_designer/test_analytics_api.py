"""The analytics route and the pages' runtime configuration."""

from __future__ import annotations

from datetime import UTC, date, datetime

from content_designer.analytics import summarize


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
             turn("2026-02-01", "Too old", "Old.1")]
    feedback = [{"datetime": "2026-03-02T10:01:00+00:00", "feedback": "thumbs_down",
                 "qid": "Ferry.1", "utterance": "Where is the ferry?"}]
    result = summarize(turns, feedback, days=3, today=date(2026, 3, 2))
    assert result["totals"] == {"asked": 4, "answered": 2, "unanswered": 2,
                                "answer_rate": 0.5, "sessions": 1}
    assert [d["asked"] for d in result["per_day"]] == [0, 1, 3]
    assert result["top_questions"][0]["count"] == 2
    assert result["top_unanswered"] == [{"question": "Capital of Peru?", "count": 2, "qid": "",
                                         "last": "2026-03-02T10:00:00.000+00:00"}]
    assert result["feedback"]["items"] == [{"qid": "Ferry.1", "up": 0, "down": 1}]


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
