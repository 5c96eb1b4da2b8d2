"""A recording stand-in for an OpenSearch server, plugged in as opensearch-py's connection.

Each test scripts the replies in order and then inspects the exact requests the store sent.

Example:
    >>> client, server = fake_client()
    >>> server.reply(200, {"count": 3})
    >>> client.count(index="qnabot")["count"]
    3
    >>> server.requests[0].method, server.requests[0].path
    ('POST', '/qnabot/_count')
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.connection import Connection


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, Any]
    raw_body: str

    @property
    def body(self) -> Any:
        """The JSON body."""
        return json.loads(self.raw_body)

    @property
    def lines(self) -> list[Any]:
        """The NDJSON body (bulk, msearch), one parsed object per line."""
        assert self.raw_body.endswith("\n"), "NDJSON bodies must end with a newline"
        return [json.loads(line) for line in self.raw_body.splitlines()]


@dataclass
class FakeServer:
    requests: list[Request] = field(default_factory=list)
    replies: list[tuple[int, Any]] = field(default_factory=list)

    def reply(self, status: int, body: Any) -> None:
        self.replies.append((status, body))


def index_missing(name: str = "qnabot") -> dict[str, Any]:
    """OpenSearch's 404 body for a missing index or alias."""
    return {"error": {"root_cause": [{"type": "index_not_found_exception",
                                      "reason": f"no such index [{name}]"}],
                      "type": "index_not_found_exception", "reason": f"no such index [{name}]",
                      "index": name},
            "status": 404}


def alias_missing(name: str = "qnabot") -> dict[str, Any]:
    """OpenSearch's 404 body for GET _alias/<name> when the alias does not exist."""
    return {"error": f"alias [{name}] missing", "status": 404}


def client_answering(handle: Callable[[str, str, dict, str], tuple[int, Any]]) -> OpenSearch:
    """An opensearch-py client whose requests ``handle(method, path, params, body)`` answers
    with ``(status, reply)``; error statuses raise as from a real server."""

    class AnsweringConnection(Connection):
        def perform_request(self, method, url, params=None, body=None, timeout=None,
                            ignore=(), headers=None):
            if isinstance(body, bytes):
                body = body.decode("utf-8")
            params = {k: v.decode() if isinstance(v, bytes) else v
                      for k, v in (params or {}).items()}
            status, reply = handle(method, url.partition("?")[0], params, body or "")
            raw = json.dumps(reply)
            if not 200 <= status < 300 and status not in ignore:
                self._raise_error(status, raw, "application/json")
            return status, {"content-type": "application/json"}, raw

    return OpenSearch(hosts=["http://opensearch.test:9200"],
                      connection_class=AnsweringConnection, max_retries=0)


def fake_client() -> tuple[OpenSearch, FakeServer]:
    """An opensearch-py client whose every request goes to a new :class:`FakeServer`."""
    server = FakeServer()

    def handle(method: str, path: str, params: dict, body: str) -> tuple[int, Any]:
        server.requests.append(Request(method, path, params, body))
        assert server.replies, f"unexpected request {method} {path}"
        return server.replies.pop(0)

    return client_answering(handle), server
