"""``POST chat/stream``: a chat turn whose generated answer streams to the page (local only).

The request body is ``POST chat``'s (``{text, session_id, channel}``). The reply is
``text/event-stream``: zero or more ``event: partial`` with ``data: {"text": "<answer so
far>"}``, then exactly one ``event: final`` whose data is what ``POST chat`` returns; on
failure one ``event: error`` with ``data: {"error": "<message>"}``. A voice turn never sends
partials. A bad body is refused before streaming starts (400 or 422, JSON, as ``POST chat``).

The turn runs in a worker thread; the LLM's text arrives on a queue and this thread alone
writes to the socket, sending only the latest text when several pieces arrived at once (a
slow client gets fewer, larger updates, never a backlog).

Example:
    $ curl -N -X POST localhost:8000/chat/stream -d '{"text": "hi", "session_id": "s1"}'
    event: final
    data: {"messages": [...], "sessionState": {...}, "display": {...}}
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import ValidationError

from content_designer.chat import ChatService

logger = logging.getLogger(__name__)

#: The route's path, relative to the server's root.
STREAM_PATH = "/chat/stream"
_FINAL, _ERROR = object(), object()


def sse_event(event: str, data: Any) -> bytes:
    """One server-sent event: ``event:`` and a one-line JSON ``data:``.

    >>> sse_event("partial", {"text": "Hum"})
    b'event: partial\\ndata: {"text": "Hum"}\\n\\n'
    """
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


class StreamRequestError(ValueError):
    """The request body is not a chat turn: ``status`` and a JSON body to send."""

    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__(body.get("error", "invalid request"))
        self.status = status
        self.body = body


def parse_request(body: bytes | None) -> Any:
    """The chat request in ``body``, validated as ``POST chat`` validates it."""
    from content_designer.api import ChatRequest

    try:
        return ChatRequest.model_validate_json(body or b"")
    except ValidationError as exc:
        problems = [{"field": ".".join(str(p) for p in e.get("loc", ())) or "body",
                     "message": e.get("msg", "")} for e in exc.errors()]
        raise StreamRequestError(422 if body else 400, {
            "error": "invalid request" if body else "the request has no JSON body",
            "problems": problems}) from None


def stream_turn(chat: ChatService, text: str, *, session_id: str,
                channel: str = "text") -> Iterator[bytes]:
    """The server-sent events of one turn, as the turn produces them."""
    updates: queue.Queue[tuple[object, Any]] = queue.Queue()
    partial: Callable[[str], None] | None = None
    if channel != "voice":
        def partial(so_far: str) -> None:
            updates.put(("partial", so_far))

    def run() -> None:
        try:
            updates.put((_FINAL, chat.turn(text, session_id=session_id, channel=channel,
                                           on_partial=partial)))
        except Exception as exc:  # noqa: BLE001 - reported to the page as an error event
            logger.exception("streamed chat turn failed")
            updates.put((_ERROR, f"the turn failed: {type(exc).__name__}"))

    threading.Thread(target=run, name="chat-stream", daemon=True).start()
    while True:
        kind, value = updates.get()
        newest = None
        while kind == "partial":  # of the texts waiting, send only the newest
            newest = value
            if updates.empty():
                break
            kind, value = updates.get()
        if newest is not None:
            yield sse_event("partial", {"text": newest})
        if kind is _FINAL:
            yield sse_event("final", value)
            return
        if kind is _ERROR:
            yield sse_event("error", {"error": value})
            return


def handle(handler: Any, chat: ChatService | None, body: bytes | None) -> None:
    """Answer ``POST chat/stream`` on a :class:`http.server.BaseHTTPRequestHandler`."""
    if chat is None:
        _send_json(handler, 404, {"error": "no chat on this server"})
        return
    try:
        request = parse_request(body)
    except StreamRequestError as exc:
        _send_json(handler, exc.status, exc.body)
        return
    handler.close_connection = True  # the stream's end is the connection's end
    handler.send_response(200)
    for name, value in _headers(handler).items():
        handler.send_header(name, value)
    handler.end_headers()
    try:
        for event in stream_turn(chat, request.text, session_id=request.session_id,
                                 channel=request.channel):
            handler.wfile.write(event)
            handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        logger.info("chat stream closed by the client")


def _headers(handler: Any) -> dict[str, str]:
    from content_designer.pages import SECURITY_HEADERS

    return {**SECURITY_HEADERS, "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "close"}


def _send_json(handler: Any, status: int, body: dict[str, Any]) -> None:
    from content_designer.pages import SECURITY_HEADERS

    data = json.dumps(body).encode()
    handler.send_response(status)
    for name, value in {**SECURITY_HEADERS, "Content-Type": "application/json",
                        "Content-Length": str(len(data))}.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)
