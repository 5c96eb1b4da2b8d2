"""``qnabot serve`` under hostile or slow clients: limits before bodies, the token before
parsing, requests served side by side, slow senders cut off, a cap on questions per item."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from content_designer import local_server
from content_designer.local_server import (
    MAX_JSON_BODY_BYTES,
    Streamed,
    make_server,
)
from content_designer.resolver import ConcurrentRestResolver
from knowledge.json_limits import MAX_JSON_DEPTH
from tests.content_designer.conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT = 20  # seconds a test waits for a thread before it counts as stuck


@pytest.fixture
def server(services):
    server = make_server(services, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def raw_request(server, head: str, body: bytes = b"") -> tuple[int, dict]:
    """Send a request head (and maybe part of a body) on a raw socket; the status and JSON."""
    with socket.create_connection(server.server_address[:2], timeout=WAIT) as connection:
        connection.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) < _length(reply):
            chunk = connection.recv(65536)
            if not chunk:
                break
            reply += chunk
    head_bytes, _, payload = reply.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1])
    return status, json.loads(payload or b"{}")


def _length(reply: bytes) -> int:
    for line in reply.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def http(server, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return raw_request(server, "\n".join(lines) + "\n", body)


def test_a_strangers_upload_is_refused_with_401_before_its_body_is_read(server):
    # The head promises 50 MB and none of it is sent: only a refusal from the head answers.
    head = ("POST /jobs/import HTTP/1.1\nHost: x\nContent-Type: multipart/form-data; "
            f"boundary=b\nContent-Length: {50 * 1024 * 1024}\n")
    status, body = raw_request(server, head)
    assert status == 401 and "admin token" in body["error"]


def test_a_json_body_over_its_limit_is_refused_with_413_before_it_is_read(server):
    head = (f"PUT /items/A.1 HTTP/1.1\nHost: x\nContent-Type: application/json\n"
            f"Authorization: Bearer {TOKEN}\nContent-Length: {MAX_JSON_BODY_BYTES + 1}\n")
    status, body = raw_request(server, head)
    assert status == 413 and str(MAX_JSON_BODY_BYTES) in body["error"]


@pytest.mark.parametrize("path", ["/items/Deep.1", "/settings", "/test"])
def test_a_deeply_nested_body_gets_401_without_the_token_and_400_with_it(server, path):
    nested = b'{"qid": "Deep.1", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    json_type = {"Content-Type": "application/json"}
    method = "POST" if path == "/test" else "PUT"

    stranger = http(server, method, path, nested, json_type)
    admin = http(server, method, path, nested, {**json_type, **AUTH})

    assert stranger[0] == 401
    assert admin[0] == 400
    assert f"nested 50001 levels deep; the limit is {MAX_JSON_DEPTH}" in admin[1]["error"]


def test_a_client_that_stops_sending_is_answered_408_and_cut_off(server, monkeypatch):
    monkeypatch.setattr(local_server.RequestHandler, "timeout", 0.3)
    head = (f"PUT /items/Slow.1 HTTP/1.1\nHost: x\nContent-Type: application/json\n"
            f"Authorization: Bearer {TOKEN}\nContent-Length: 1000\n")
    status, body = raw_request(server, head, b'{"qid": "Slow.1", ')  # ...and nothing more
    assert status == 408 and "did not arrive" in body["error"]


def test_an_item_with_more_than_100_questions_is_refused_naming_the_field(server):
    item = {"qid": "Many.1", "q": [f"question {n}" for n in range(4000)], "a": "Many."}
    status, body = http(server, "PUT", "/items/Many.1", json.dumps(item).encode(),
                        {"Content-Type": "application/json", **AUTH})
    assert status == 400
    assert body["problems"] == [{"field": "body.q", "message": "has 4000 entries; the limit "
                                 "is 100 (split the item, or keep its most distinct questions)"}]


def test_health_answers_while_a_slow_request_is_being_served(server, services, monkeypatch):
    entered, release = threading.Event(), threading.Event()
    search = services.kb.search

    def slow_search(*args, **kwargs):
        entered.set()
        release.wait(WAIT)
        return search(*args, **kwargs)

    monkeypatch.setattr(services.kb, "search", slow_search)
    results: list = []
    slow = threading.Thread(target=lambda: results.append(http(
        server, "POST", "/test", b'{"question": "hello"}',
        {"Content-Type": "application/json", **AUTH})))
    slow.start()
    try:
        assert entered.wait(WAIT)
        health = http(server, "GET", "/health")  # served while /test is still inside
    finally:
        release.set()
        slow.join(WAIT)
    assert health == (200, {"status": "ok"})
    assert results and results[0][0] == 200


def test_the_resolver_keeps_each_threads_request_apart():
    app = ConcurrentRestResolver()
    both_inside = threading.Barrier(2, timeout=WAIT)
    passes: list[str] = []

    def count(app_, next_middleware):
        passes.append(app_.current_event.path)
        return next_middleware(app_)

    app.use(middlewares=[count])

    @app.get("/echo/<word>")
    def echo(word: str) -> dict:
        both_inside.wait()  # neither finishes before the other has started
        return {"word": word, "path": app.current_event.path,
                "query": app.current_event.get_query_string_value("n")}

    replies: dict[str, dict] = {}

    def ask(word: str) -> None:
        event = {"path": f"/echo/{word}", "httpMethod": "GET", "headers": {}, "body": None,
                 "requestContext": {}, "queryStringParameters": {"n": word}}
        replies[word] = json.loads(app.resolve(event, None)["body"])

    threads = [threading.Thread(target=ask, args=(word,)) for word in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert replies == {"one": {"word": "one", "path": "/echo/one", "query": "one"},
                       "two": {"word": "two", "path": "/echo/two", "query": "two"}}
    assert sorted(passes) == ["/echo/one", "/echo/two"]  # each through the middleware once


def test_a_streaming_route_gets_the_checked_request_and_streams_its_chunks(server):
    def stream(event: dict) -> Streamed:
        text = json.loads(event["body"])["text"]

        def chunks() -> Iterator[bytes]:
            for part in text.split():
                yield f"event: partial\ndata: {json.dumps({'text': part})}\n\n".encode()
        return Streamed(200, chunks())

    server.stream_routes[("POST", "/chat/stream")] = stream
    with socket.create_connection(server.server_address[:2], timeout=WAIT) as connection:
        body = b'{"text": "one two"}'
        connection.sendall(b"POST /chat/stream HTTP/1.1\r\nHost: x\r\nContent-Type: "
                           b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    head, _, events = reply.partition(b"\r\n\r\n")
    assert b"200" in head.split(b"\r\n")[0] and b"text/event-stream" in head
    assert events == (b'event: partial\ndata: {"text": "one"}\n\n'
                      b'event: partial\ndata: {"text": "two"}\n\n')
