"""The local chat route (Lex V2 in and out), what the chat page is given to show, and feedback."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from content_designer.chat import ChatService, display, markdown_html

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "<a href=\"jAvAsCrIpT:alert(1)\">x</a>",
    "<svg onload=alert(1)>",
    "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
    "<details open ontoggle=alert(1)><summary>x</summary></details>",
    "<a href='data:text/html,<script>alert(1)</script>'>x</a>",
    "<style>body{display:none}</style>",
    "<form action=https://evil.example><input name=p></form>",
]


def lex_reply(markdown: str = "", text: str = "plain", card: dict | None = None) -> dict:
    messages = [{"contentType": "PlainText", "content": text}]
    if card:
        messages.append({"contentType": "ImageResponseCard", "imageResponseCard": card})
    return {"sessionState": {"sessionAttributes": {
        "qnabot_qid": "Q.1", "qnabot_gotanswer": "true",
        "appContext": json.dumps({"altMessages": {"markdown": markdown}})}},
        "messages": messages}


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, attrs))


def assert_inert(html: str) -> None:
    """No element that runs code, no event handler, no link or source but http(s)/mailto/tel."""
    parser = _Elements()
    parser.feed(html)
    for tag, attributes in parser.found:
        assert tag not in ("script", "iframe", "svg", "style", "form", "object", "embed"), html
        for name, value in attributes:
            assert not name.startswith("on") and name != "style", html
            if name in ("href", "src"):
                assert url_scheme(value or "") in ("", "http", "https", "mailto", "tel"), html


_C0_AND_SPACE = "".join(chr(code) for code in range(0x21))


def url_scheme(url: str) -> str:
    """The scheme a browser reads from a link ('' for a relative one), as the URL standard
    parses it: outer spaces and controls stripped, tabs and newlines removed."""
    cleaned = re.sub(r"[\t\n\r]", "", url.strip(_C0_AND_SPACE))
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):", cleaned)
    return match.group(1).lower() if match else ""


def test_chat_returns_the_lex_response_and_what_the_page_shows(client):
    reply = client.post("/chat", {"text": "Hello", "session_id": "s-1"}, auth=False)
    assert reply.status == 200
    body = reply.json()
    assert body["sessionState"]["dialogAction"] == {"type": "Close"}
    assert body["messages"][0]["content"] == "You said Hello"
    assert body["display"]["html"] == "<p>You said <strong>Hello</strong></p>\n"
    assert body["display"]["card"]["buttons"] == [{"text": "Again", "value": "say again"}]
    assert body["display"]["qid"] == "Echo.001"


def test_chat_keeps_session_attributes_across_turns_per_session(client):
    for _ in range(3):
        last = client.post("/chat", {"text": "Hi", "session_id": "a"}, auth=False).json()
    other = client.post("/chat", {"text": "Hi", "session_id": "b"}, auth=False).json()
    assert last["sessionState"]["sessionAttributes"]["turns"] == "3"
    assert other["sessionState"]["sessionAttributes"]["turns"] == "1"


def test_chat_sends_the_event_lex_would_send(make_services):
    events = []

    def fulfill(event, context):
        events.append(event)
        assert context.get_remaining_time_in_millis() > 0
        return lex_reply()

    ChatService(fulfill).turn("Where is it?", session_id="s9", channel="voice")
    event = events[0]
    assert event["inputTranscript"] == "Where is it?" and event["sessionId"] == "s9"
    assert event["inputMode"] == "Speech"
    assert event["invocationSource"] == "FulfillmentCodeHook"


@pytest.mark.parametrize("body, field", [
    ({"session_id": "s"}, "body.text"),
    ({"text": "", "session_id": "s"}, "body.text"),
    ({"text": "hi", "session_id": "bad id!"}, "body.session_id"),
    ({"text": "hi", "session_id": "s", "channel": "fax"}, "body.channel"),
    ({"text": "x" * 10_001, "session_id": "s"}, "body.text"),
])
def test_a_bad_chat_request_is_a_422_naming_the_field(client, body, field):
    reply = client.post("/chat", body, auth=False)
    assert reply.status == 422
    assert field in [p["field"] for p in reply.json()["problems"]]


def test_malformed_json_is_a_422_not_a_500(client):
    reply = client.request("POST", "/chat", raw=b"{not json", content_type="application/json",
                           auth=False)
    assert reply.status == 422


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_answer_markdown_is_rendered_without_anything_that_runs(payload):
    assert_inert(markdown_html(f"Answer {payload} end"))


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_card_fields_reach_the_page_as_plain_text(payload):
    shown = display(lex_reply(card={"title": payload, "subtitle": payload,
                                    "imageUrl": "javascript:alert(1)",
                                    "buttons": [{"text": payload, "value": payload}]}))
    card = shown["card"]
    assert card["image_url"] == ""
    for text in (card["title"], card["subtitle"], *(b["text"] for b in card["buttons"])):
        assert "<" not in text or text.count("<") == text.count("&lt;")


def test_generated_answers_keep_their_collapsible_context_and_source_links():
    html = markdown_html("**LLM Answer:** yes\n\n<details><summary>Context</summary>\n\n"
                         "Humpty sat.\n\n</details>\n\n1. [Source](https://example.org/a)")
    assert "<details>" in html and "<summary>Context</summary>" in html
    assert 'href="https://example.org/a"' in html and 'rel="noopener noreferrer"' in html


_MARKUP = st.sampled_from(["<", ">", "[", "](", ")", "javascript:", "<script>", "<img src=x ",
                           "onerror=", "<a href=", "\"", "'", "<details>", "&#x6A;", "**", "\n"])


@given(st.lists(st.one_of(_MARKUP, st.text(max_size=8)), max_size=40).map("".join))
def test_any_markdown_renders_to_inert_html(text):
    assert_inert(markdown_html(text))


def test_thumbs_feedback_is_recorded_per_turn_and_listed_newest_first(client):
    for verdict, qid in (("up", "A.1"), ("down", "B.2")):
        reply = client.post("/feedback", {"session_id": "s", "qid": qid, "question": "q?",
                                          "verdict": verdict}, auth=False)
        assert reply.status == 201
        assert reply.json()["time"]
    listed = client.get("/feedback").json()
    assert listed["total"] == 2
    assert [(f["qid"], f["verdict"]) for f in listed["feedback"]] == [("B.2", "down"),
                                                                     ("A.1", "up")]
    assert client.get("/feedback?verdict=up").json()["total"] == 1


def test_feedback_verdict_must_be_up_or_down(client):
    reply = client.post("/feedback", {"session_id": "s", "question": "q", "verdict": "meh"},
                        auth=False)
    assert reply.status == 422


def test_without_a_chat_service_there_is_no_chat_route(make_services):
    from content_designer.api import create_app

    app = create_app(make_services(fulfill=None))
    paths = {route.rule.pattern for route in app._static_routes + app._dynamic_routes}
    assert not any("chat" in path for path in paths)
