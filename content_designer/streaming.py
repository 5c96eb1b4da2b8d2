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

import base64
import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
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


def stream_turn(chat: ChatService, text: str, *, session_id: str, channel: str = "text",
                request_attributes: Mapping[str, str] | None = None) -> Iterator[bytes]:
    """The server-sent events of one turn, as the turn produces them."""
    updates: queue.Queue[tuple[object, Any]] = queue.Queue()
    partial: Callable[[str], None] | None = None
    if channel != "voice":
        def partial(so_far: str) -> None:
            updates.put(("partial", so_far))

    def run() -> None:
        try:
            updates.put((_FINAL, chat.turn(text, session_id=session_id, channel=channel,
                                           request_attributes=request_attributes,
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


def route(chat: ChatService) -> Callable[[dict[str, Any]], Any]:
    """The local server's stream route for ``POST chat/stream`` (see
    :attr:`content_designer.local_server.LocalServer.stream_routes`): the request as an API
    Gateway event in, a :class:`~content_designer.local_server.Streamed` response out."""
    from content_designer.local_server import Streamed

    def serve(event: dict[str, Any]) -> Streamed:
        body = event.get("body") or ""
        raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
        try:
            request = parse_request(raw)
        except StreamRequestError as exc:
            return Streamed(exc.status, [json.dumps(exc.body).encode()],
                            {"Content-Type": "application/json"})
        return Streamed(200, stream_turn(chat, request.text, session_id=request.session_id,
                                         channel=request.channel,
                                         request_attributes=request.request_attributes),
                        {"Content-Type": "text/event-stream; charset=utf-8",
                         "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return serve
