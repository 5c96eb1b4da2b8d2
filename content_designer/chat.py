"""The local chat: one turn through the fulfillment handler, as Lex would run it.

:class:`ChatService` builds the Lex V2 event for a typed question
(:func:`fulfillment.lex_event.make_event`), calls the fulfillment Lambda handler, and keeps
each session's attributes between turns the way the Lex runtime does. Its reply is the Lex
response itself plus a ``display`` block for the chat page (:func:`display`): the answer's
markdown rendered to HTML and cleaned with ``nh3``, and the response card's fields as plain
text, so the page never puts unsanitized content into the document.

Example:
    >>> chat = ChatService(lambda event, context: {"messages": [
    ...     {"contentType": "PlainText", "content": "Hi **there**"}], "sessionState": {}})
    >>> chat.turn("Hello", session_id="s1")["display"]["html"]
    '<p>Hi <strong>there</strong></p>\\n'
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import nh3
from markdown_it import MarkdownIt

from fulfillment.lex_event import make_event
from fulfillment.sanitize import is_safe_url, sanitize_text

#: The Lambda handler signature: ``lambda_handler(event, context) -> response``.
Fulfill = Callable[[dict[str, Any], Any], dict[str, Any]]

#: Sessions remembered at once; the least recently used is forgotten first.
MAX_SESSIONS = 1000
#: Lex's limit for a fulfillment code hook.
TURN_BUDGET_SECONDS = 30.0

_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")
_TAGS = set(nh3.ALLOWED_TAGS) | {"details", "summary"}
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"},
               "th": {"align"}, "td": {"align"}}


class LocalLambdaContext:
    """The parts of a Lambda context that handlers read, for running them locally."""

    function_name = "qnabot-local"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:qnabot-local"

    def __init__(self, budget_seconds: float = TURN_BUDGET_SECONDS,
                 on_partial: Callable[[str], None] | None = None):
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + budget_seconds
        self.on_partial = on_partial  # local only: a generated answer's text so far

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def markdown_html(markdown: str) -> str:
    """Markdown rendered to HTML that is safe to insert into a page.

    Raw HTML in the markdown is kept only when harmless (``<details>`` for generated answers'
    context); scripts, event handlers and ``javascript:`` links are removed.

    >>> markdown_html('[x](javascript:alert(1)) <img src=x onerror=alert(1)>')
    '<p><a rel="noopener noreferrer">x</a> <img src="x"></p>\\n'
    """
    return nh3.clean(_MARKDOWN.render(markdown or ""), tags=_TAGS, attributes=_ATTRIBUTES,
                     url_schemes={"http", "https", "mailto", "tel"},
                     link_rel="noopener noreferrer",
                     set_tag_attribute_values={"a": {"target": "_blank"}})


def _app_context(attributes: Mapping[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(attributes.get("appContext") or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _card(messages: list[Any]) -> dict[str, Any] | None:
    for message in messages:
        if isinstance(message, dict) and message.get("contentType") == "ImageResponseCard":
            card = message.get("imageResponseCard") or {}
            image = str(card.get("imageUrl") or "")
            buttons = [{"text": sanitize_text(str(b.get("text") or "")),
                        "value": sanitize_text(str(b.get("value") or ""))}
                       for b in card.get("buttons") or [] if isinstance(b, dict)]
            return {"title": sanitize_text(str(card.get("title") or "")),
                    "subtitle": sanitize_text(str(card.get("subtitle") or "")),
                    "image_url": image if image.startswith("https://") and is_safe_url(image)
                    else "",
                    "buttons": [b for b in buttons if b["text"] and b["value"]]}
    return None


def display(response: Mapping[str, Any]) -> dict[str, Any]:
    """What the chat page shows for a Lex response: safe HTML, the card, the qid, and the SSML
    to read aloud (never inserted as markup: the page turns it into plain speech text)."""
    state = response.get("sessionState") or {}
    attributes = state.get("sessionAttributes") or {}
    messages = response.get("messages") or []
    text = "\n\n".join(str(m.get("content") or "") for m in messages
                       if isinstance(m, dict) and m.get("contentType") in ("PlainText", "SSML"))
    alt = _app_context(attributes).get("altMessages") or {}
    markdown = alt.get("markdown") if isinstance(alt, dict) else ""
    if markdown and isinstance(markdown, str):
        html = markdown_html(markdown)
    else:
        html = markdown_html(nh3.clean(text, tags=set()) if text else "")
    ssml = alt.get("ssml") if isinstance(alt, dict) else ""
    return {
        "html": html,
        "text": sanitize_text(text),
        "ssml": ssml if isinstance(ssml, str) else "",
        "qid": str(attributes.get("qnabot_qid") or ""),
        "got_answer": attributes.get("qnabot_gotanswer") == "true",
        "card": _card(messages),
    }


class ChatService:
    """Runs chat turns through the fulfillment handler and remembers each session."""

    def __init__(self, fulfill: Fulfill, *, max_sessions: int = MAX_SESSIONS):
        self._fulfill = fulfill
        self._sessions: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._max_sessions = max_sessions
        self._lock = threading.Lock()

    def turn(self, text: str, *, session_id: str, channel: str = "text",
             request_attributes: Mapping[str, str] | None = None,
             on_partial: Callable[[str], None] | None = None) -> dict[str, Any]:
        """One turn: the Lex V2 response, plus ``display`` for the chat page.

        ``request_attributes`` go with this turn only (Lex V2 ``requestAttributes``).
        ``on_partial`` gets a generated answer's text so far while it is written (text
        channel only; see :mod:`content_designer.streaming`).
        """
        with self._lock:
            attributes = dict(self._sessions.get(session_id) or {})
        event = make_event(text, session_id=session_id, channel=channel,
                           session_attributes=attributes, request_attributes=request_attributes)
        response = self._fulfill(event, LocalLambdaContext(on_partial=on_partial))
        state = response.get("sessionState") or {}
        with self._lock:
            self._sessions[session_id] = dict(state.get("sessionAttributes") or {})
            self._sessions.move_to_end(session_id)
            while len(self._sessions) > self._max_sessions:
                self._sessions.popitem(last=False)
        return {**response, "display": display(response)}
