"""``qnabot serve``: the admin API and the pages over plain HTTP on this machine.

A thin adapter, in the role API Gateway plays in AWS: each HTTP request becomes an API
Gateway REST proxy event (:func:`api_gateway_event`) for the one resolver of
:mod:`content_designer.api` (which serves the pages too), and its response is written back.

Requests are served concurrently, each in its own thread (the resolver keeps each thread's
event apart, see :mod:`content_designer.resolver`; the store has its own locking for writes).
Before a body is read the request's head is checked: its size against the route's limit, and
for an admin route the token, so a stranger's upload is refused unread. A JSON body nested
too deeply is refused before it is parsed. A client that stops sending is cut off after
:data:`READ_TIMEOUT_SECONDS`.

Routes that stream their response (server-sent events, such as ``POST /chat/stream``) are
added to :attr:`LocalServer.stream_routes`: they get the same size, nesting and timeout checks
and the request as an API Gateway event, but no admin token check (they are public, as
``POST /chat`` is), and return a :class:`Streamed`::

    server.stream_routes[("POST", "/chat/stream")] = lambda event: Streamed(200, chunks(event))

Example:
    >>> server = make_server(services, "127.0.0.1", 0)  # doctest: +SKIP
    >>> server.serve_forever()  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from content_designer import streaming
from content_designer.api import create_app
from content_designer.chat import LocalLambdaContext
from content_designer.pages import SECURITY_HEADERS
from content_designer.resolver import ConcurrentRestResolver
from content_designer.services import DesignerServices
from knowledge.json_limits import JsonLimitError, check_nesting

logger = logging.getLogger(__name__)

#: Largest upload read (a multipart body); larger requests get 413 unread.
MAX_BODY_BYTES = 60 * 1024 * 1024
#: Largest other body (JSON: an item, settings, a chat turn); larger ones get 413 unread.
MAX_JSON_BODY_BYTES = 2 * 1024 * 1024
#: Seconds a client may take to send its request (or stay idle between requests).
READ_TIMEOUT_SECONDS = 30
_TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")
_JSON = {"Content-Type": "application/json"}


def api_gateway_event(method: str, target: str, headers: Mapping[str, str],
                      body: bytes | None) -> dict[str, Any]:
    """The API Gateway REST proxy event for one HTTP request (``target`` is path?query).

    Text bodies are passed as text, others (multipart uploads) base64-encoded, as API
    Gateway does with binary media types.

    >>> event = api_gateway_event("GET", "/items?qid=Alexa&limit=5", {}, None)
    >>> event["path"], event["queryStringParameters"]
    ('/items', {'qid': 'Alexa', 'limit': '5'})
    """
    url = urlsplit(target)
    query = parse_qs(url.query, keep_blank_values=True)
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    text_body = content_type == "" or content_type.lower().startswith(_TEXT_TYPES)
    if body is None or body == b"":
        payload, encoded = None, False
    elif text_body:
        payload, encoded = body.decode("utf-8", errors="replace"), False
    else:
        payload, encoded = base64.b64encode(body).decode("ascii"), True
    path = unquote(url.path) or "/"
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": method, "path": path,
                           "stage": "local", "identity": {"sourceIp": "127.0.0.1"}},
        "body": payload,
        "isBase64Encoded": encoded,
    }


def _json_response(status: int, message: str, **headers: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {**_JSON, **headers},
            "body": json.dumps({"error": message})}


def body_limit(headers: Mapping[str, str]) -> int:
    """The largest body accepted with these headers: uploads may be large, JSON may not."""
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    return MAX_BODY_BYTES if content_type.lower().startswith("multipart/") else MAX_JSON_BODY_BYTES


class LocalApi:
    """Resolves API Gateway events, concurrently, after the checks every request gets.

    ``authorize`` (the services' check of the admin token) lets :meth:`refusal` turn a
    stranger away from an admin route before the body is read or parsed.
    """

    def __init__(self, app: ConcurrentRestResolver,
                 authorize: Callable[[dict[str, Any]], bool] | None = None):
        self.app = app
        self.authorize = authorize

    def refusal(self, method: str, target: str,
                headers: Mapping[str, str]) -> dict[str, Any] | None:
        """A 401 response for an admin route asked without the token (None: go on)."""
        if self.authorize is None:
            return None
        route = self.app.route_for(method, unquote(urlsplit(target).path) or "/")
        if route is None or not route.security:
            return None
        if self.authorize(api_gateway_event(method, target, headers, None)):
            return None
        return _json_response(401, "this route needs the admin token: send the header "
                                   "'Authorization: Bearer <token>' (printed by `qnabot serve`, "
                                   "kept in $QNABOT_HOME/admin-token)",
                              **{"WWW-Authenticate": "Bearer"})

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        headers = event.get("headers") or {}
        refused = self.refusal(event["httpMethod"], event["path"], headers)
        if refused is not None:
            return refused
        body = event.get("body")
        if body and not event.get("isBase64Encoded"):
            try:
                check_nesting(body, what="the request body")
            except JsonLimitError as exc:
                return _json_response(400, f"{exc}: send a flatter JSON document")
        return self.app.resolve(event, LocalLambdaContext())


@dataclass(frozen=True)
class Streamed:
    """A streamed response: sent with its status and headers, then chunk by chunk."""

    status: int
    chunks: Iterable[bytes]
    headers: Mapping[str, str] = field(default_factory=lambda: {
        "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"})


#: A streaming route: the request as an API Gateway event in, a :class:`Streamed` out.
StreamRoute = Callable[[dict[str, Any]], Streamed]


class RequestHandler(BaseHTTPRequestHandler):
    """Every request, pages included, goes through the API app."""

    server: LocalServer
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_SECONDS  # applies to every read of the socket

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._send_api()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET  # noqa: N815

    def _send_api(self) -> None:
        headers = dict(self.headers.items())
        api = self.server.api
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        limit = body_limit(headers)
        if not 0 <= length <= limit:
            problem = (f"the request is {length} bytes; the limit is {limit}" if length > 0
                       else "the Content-Length header is not a byte count")
            self._refuse(_json_response(413 if length > 0 else 400, problem))
            return
        refused = api.refusal(self.command, self.path, headers)
        if refused is not None:
            self._refuse(refused)
            return
        try:
            body = self.rfile.read(length) if length else None
        except TimeoutError:
            self._refuse(_json_response(408, f"the request body did not arrive within "
                                             f"{READ_TIMEOUT_SECONDS} s"))
            return
        event = api_gateway_event(self.command, self.path, headers, body)
        stream = self.server.stream_routes.get((self.command, event["path"]))
        try:
            if stream is not None:
                self._stream(stream, event)
                return
            response = api(event)
        except Exception:  # a bug: log it, never show a traceback to the client
            logger.exception("unhandled error for %s %s", self.command, self.path)
            response = _json_response(500, "internal error; see the server log")
        self._send_response(response)

    def _refuse(self, response: dict[str, Any]) -> None:
        """Answer without reading the body, then close (the unread body must not be taken for
        the next request)."""
        self.close_connection = True
        self._send_response(response)

    def _send_response(self, response: dict[str, Any]) -> None:
        payload = response.get("body") or ""
        data = (base64.b64decode(payload) if response.get("isBase64Encoded")
                else payload.encode("utf-8"))
        headers = {k: str(v) for k, v in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(str(v) for v in values)
        self._send(int(response.get("statusCode", 200)), headers, data)

    def _stream(self, route: StreamRoute, event: dict[str, Any]) -> None:
        if event.get("body") and not event.get("isBase64Encoded"):
            try:
                check_nesting(event["body"], what="the request body")
            except JsonLimitError as exc:
                self._send_response(_json_response(400, str(exc)))
                return
        streamed = route(event)
        self.close_connection = True  # the end of the stream is the end of the connection
        self.send_response(streamed.status)
        for name, value in {**SECURITY_HEADERS, **streamed.headers}.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for chunk in streamed.chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            logger.info("%s %s: the client closed the stream", self.command, self.path)

    def _send(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self.send_response(status)
        for name, value in {**SECURITY_HEADERS, **headers}.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.info("%s %s", self.address_string(), format % args)


class LocalServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the API it serves and its streaming routes."""

    daemon_threads = True
    # Connections waiting to be accepted. socketserver's default of 5 drops the connections of
    # a burst of clients (20 chat sessions starting at once): they wait out TCP retries or fail.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: LocalApi):
        super().__init__(address, RequestHandler)
        self.api = api
        #: (method, path) -> a route that streams its response, e.g. ("POST", "/chat/stream").
        self.stream_routes: dict[tuple[str, str], StreamRoute] = {}

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def make_server(services: DesignerServices, host: str = "127.0.0.1",
                port: int = 8000) -> LocalServer:
    """A server for ``services`` bound to ``host:port`` (port 0 picks a free one)."""
    server = LocalServer((host, port), LocalApi(create_app(services), services.authorize))
    if services.chat is not None:  # POST chat/stream: a generated answer as it is written
        server.stream_routes[("POST", streaming.STREAM_PATH)] = streaming.route(services.chat)
        services.streaming = True  # config.js tells the chat page to use it
    return server
