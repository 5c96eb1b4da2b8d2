"""The soak test in its short form: ``qnabot serve`` on 127.0.0.1 under 5 concurrent chat
sessions for 5 seconds while imports and edits run through the admin API (``bench/soak.py``;
``make soak`` runs the full 20 sessions for 60 seconds).

The hashing embeddings keep the server's start short; the load itself is the real one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_soak_answers_every_turn_while_imports_run():
    result = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--sessions", "5", "--seconds", "5", "--json"],
        cwd=ROOT, env={**os.environ, "EMBEDDINGS_API": "HASHING"}, capture_output=True,
        text=True, timeout=600)

    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["errors"] == 0 and report["admin_errors"] == [], report
    assert report["requests"] > 0 and report["conversations"] > 0
    assert report["imports"] >= 1 and report["edits"] >= 1
    latency = report["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]


def test_the_soak_reports_failed_turns_and_exits_non_zero():
    from bench.soak import ERROR_MESSAGE, percentile, turn_problem

    ok = {"messages": [{"contentType": "PlainText", "content": "Hi"}],
          "sessionState": {"dialogAction": {"type": "Close"}}}
    failed = {**ok, "messages": [{"contentType": "PlainText", "content": ERROR_MESSAGE}]}
    assert turn_problem(200, ok) == ""
    assert "error message" in turn_problem(200, failed)
    assert turn_problem(500, {"error": "internal error"}).startswith("HTTP 500")
    assert "not a Lex response" in turn_problem(200, {"display": {}})
    assert [percentile(list(range(1, 101)), share) for share in (0.5, 0.95, 0.99)] == [50, 95, 99]
    assert percentile([], 0.5) == 0.0


def test_a_burst_of_clients_connecting_at_once_is_queued_not_dropped(tmp_path, monkeypatch):
    import socket

    from content_designer.local_server import make_server
    from content_designer.services import open_services

    monkeypatch.setenv("EMBEDDINGS_API", "HASHING")
    monkeypatch.delenv("QNABOT_STORE", raising=False)
    monkeypatch.delenv("SETTINGS_TABLE", raising=False)
    services = open_services(tmp_path / "home")
    server = make_server(services, "127.0.0.1", 0)  # not accepting yet: connections queue
    connected = []
    try:
        for _ in range(64):
            # A dropped connection attempt waits for TCP's retry; a queued one completes at once.
            connected.append(socket.create_connection(server.server_address[:2], timeout=2))
    except TimeoutError:
        pass
    finally:
        for connection in connected:
            connection.close()
        server.server_close()
        services.jobs.shutdown()
    assert len(connected) == 64
