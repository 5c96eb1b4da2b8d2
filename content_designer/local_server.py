"""``qnabot serve``: the admin API and the pages over plain HTTP on this machine.

A thin adapter, in the role API Gateway plays in AWS: each HTTP request becomes an API
Gateway REST proxy event (:func:`api_gateway_event`) for the one resolver of
:mod:`content_designer.api` (which serves the pages too), and its response is written back.

Powertools keeps the current event on the resolver class, so requests are resolved one at a
time; jobs run in their own thread and do not hold the lock.

Example:
    >>> server = make_server(services, "127.0.0.1", 0)  # doctest: +SKIP
    >>> server.serve_forever()  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from content_designer import streaming
from content_designer.api import create_app
from content_designer.chat import LocalLambdaContext
from content_designer.pages import SECURITY_HEADERS
from content_designer.services import DesignerServices

logger = logging.getLogger(__name__)

#: Largest request body read (uploads included); larger requests get 413.
MAX_BODY_BYTES = 60 * 1024 * 1024
_TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")


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


class LocalApi:
    """Resolves API Gateway events one at a time (see the module docstring for why)."""

    def __init__(self, app: APIGatewayRestResolver):
        self.app = app
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self.app.resolve(event, LocalLambdaContext())


class RequestHandler(BaseHTTPRequestHandler):
    """Every request, pages included, goes through the API app."""

    server: LocalServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._send_api()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET  # noqa: N815

    def _send_api(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            problem = (f"the request is {length} bytes; the limit is {MAX_BODY_BYTES}"
                       if length > 0 else "the Content-Length header is not a byte count")
            self._send(413 if length > 0 else 400, {"Content-Type": "application/json"},
                       json.dumps({"error": problem}).encode())
            return
        body = self.rfile.read(length) if length else None
        if self.command == "POST" and urlsplit(self.path).path == streaming.STREAM_PATH:
            streaming.handle(self, getattr(self.server, "chat", None), body)
            return
        event = api_gateway_event(self.command, self.path, dict(self.headers.items()), body)
        try:
            response = self.server.api(event)
        except Exception:  # a bug: log it, never show a traceback to the client
            logger.exception("unhandled error for %s %s", self.command, self.path)
            response = {"statusCode": 500, "headers": {"Content-Type": "application/json"},
                        "body": json.dumps({"error": "internal error; see the server log"})}
        payload = response.get("body") or ""
        data = (base64.b64decode(payload) if response.get("isBase64Encoded")
                else payload.encode("utf-8"))
        headers = {k: str(v) for k, v in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(str(v) for v in values)
        self._send(int(response.get("statusCode", 200)), headers, data)

    def _send(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self.send_response(status)
        for name, value in {**SECURITY_HEADERS, **headers}.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.info("%s %s", self.address_string(), format % args)


class LocalServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the API it serves."""

    daemon_threads = True
    # Connections waiting to be accepted. socketserver's default of 5 drops the connections of
    # a burst of clients (20 chat sessions starting at once): they wait out TCP retries or fail.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: LocalApi):
        super().__init__(address, RequestHandler)
        self.api = api

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def make_server(services: DesignerServices, host: str = "127.0.0.1",
                port: int = 8000) -> LocalServer:
    """A server for ``services`` bound to ``host:port`` (port 0 picks a free one)."""
    server = LocalServer((host, port), LocalApi(create_app(services)))
    server.chat = services.chat  # POST chat/stream (content_designer.streaming)
    return server
