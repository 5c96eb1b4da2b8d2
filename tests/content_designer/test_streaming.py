"""``POST chat/stream`` (contract C3) over real HTTP on 127.0.0.1: partial events while the
answer is generated, one final event with ``POST chat``'s reply, errors as events."""

from __future__ import annotations

import http.client
import json
import threading
from urllib.parse import urlsplit

import pytest

from content_designer.local_server import make_server
from fulfillment import handler
from fulfillment.llm.scripted import ScriptedLLM
from tests.content_designer.conftest import echo_fulfill
from tests.fulfillment.conftest import LEX_ITEMS, MemorySettingsRepo, build_kb, make_pipeline


def streaming_fulfill(event, context):
    """The echo stand-in, generating its answer in three pieces."""
    for so_far in ("You", "You said", "You said it"):
        if context.on_partial:
            context.on_partial(so_far)
    return echo_fulfill(event, context)


def failing_fulfill(event, context):
    raise RuntimeError("boom")


@pytest.fixture
def serve(make_services):
    servers = []

    def start(fulfill=streaming_fulfill):
        server = make_server(make_services(fulfill), "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def post_stream(base_url, body):
    """(status, content type, [(event, data)...]) of a POST chat/stream."""
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    connection.request("POST", "/chat/stream", body=payload,
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    raw = response.read().decode()
    connection.close()
    if not response.getheader("Content-Type", "").startswith("text/event-stream"):
        return response.status, response.getheader("Content-Type"), json.loads(raw)
    events = []
    for block in raw.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return response.status, response.getheader("Content-Type"), events


def test_partials_come_as_the_answer_is_written_then_the_chat_reply(serve):
    status, content_type, events = post_stream(serve(), {"text": "hello", "session_id": "s1"})
    assert status == 200 and content_type.startswith("text/event-stream")
    assert [kind for kind, _ in events][-1] == "final"
    partials = [data["text"] for kind, data in events if kind == "partial"]
    assert partials and partials[-1] == "You said it"
    assert set(partials) <= {"You", "You said", "You said it"}
    final = events[-1][1]
    assert final["messages"][0]["content"] == "You said hello"
    assert final["display"]["html"] == "<p>You said <strong>hello</strong></p>\n"


def test_the_stream_keeps_the_session_like_post_chat(serve):
    base = serve()
    post_stream(base, {"text": "one", "session_id": "s9"})
    events = post_stream(base, {"text": "two", "session_id": "s9"})[2]
    assert events[-1][1]["sessionState"]["sessionAttributes"]["turns"] == "2"


def test_voice_turns_get_no_partials(serve):
    events = post_stream(serve(), {"text": "hello", "session_id": "s1", "channel": "voice"})[2]
    assert [kind for kind, _ in events] == ["final"]


def test_a_failing_turn_ends_the_stream_with_an_error_event(serve):
    events = post_stream(serve(failing_fulfill), {"text": "hello", "session_id": "s1"})[2]
    assert events == [("error", {"error": "the turn failed: RuntimeError"})]


@pytest.mark.parametrize("body, status, field", [
    ({"session_id": "s1"}, 422, "text"),
    ({"text": "hi", "session_id": "bad id!"}, 422, "session_id"),
    (b"", 400, "body"),
])
def test_a_bad_request_is_refused_as_json_before_streaming(serve, body, status, field):
    got, content_type, reply = post_stream(serve(), body)
    assert (got, content_type) == (status, "application/json")
    assert any(field in p["field"] for p in reply["problems"])


def test_a_generated_answer_streams_end_to_end_through_the_handler(serve, tmp_path):
    kb = build_kb(tmp_path / "k.sqlite", LEX_ITEMS)
    handler.set_service(handler.FulfillmentService(
        make_pipeline(kb, ScriptedLLM(["She lost her sheep."])), MemorySettingsRepo()))
    try:
        events = post_stream(serve(handler.lambda_handler),
                             {"text": "What did Little Bo-Peep lose?", "session_id": "s1"})[2]
    finally:
        handler.set_service(None)
    partials = [data["text"] for kind, data in events if kind == "partial"]
    assert partials[-1] == "LLM Answer: She lost her sheep."
    assert events[-1][0] == "final"
    assert events[-1][1]["display"]["text"].startswith("LLM Answer: She lost her sheep.")


def test_config_js_tells_the_chat_page_this_server_streams(serve):
    url = urlsplit(serve())
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.request("GET", "/config.js")
    script = connection.getresponse().read().decode()
    assert '"streaming":true' in script


def test_the_welcome_mark_reaches_the_handler_through_the_stream_as_through_chat(serve):
    seen = []

    def remembering_fulfill(event, context):
        seen.append(event["requestAttributes"])
        return streaming_fulfill(event, context)

    events = post_stream(serve(remembering_fulfill),
                         {"text": "Hello", "session_id": "s1",
                          "request_attributes": {"qnabot_welcome": "true"}})[2]
    assert events[-1][0] == "final"
    assert seen == [{"qnabot_welcome": "true"}]
