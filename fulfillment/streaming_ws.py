"""Streaming generated answers to the web client in AWS, as QnABot does: over an API Gateway
WebSocket, beside the Lex response, which stays as it is for every client.

The chat client opens the WebSocket (signed with its Cognito identity's credentials) with its
Lex session id; :mod:`fulfillment.streaming_connect` records ``sessionId -> connectionId`` in
the ``STREAMING_TABLE`` DynamoDB table, for the identity that registered it first. While a turn
of that session is generated, :func:`listener_for` posts the answer so far to that connection:
``{"type": "partial", "sessionId": ..., "text": "<answer so far>"}``. A client that left (a gone
connection) just stops receiving; streaming never costs a turn its answer. Voice never streams.

Example:
    >>> streamer = WebSocketStreamer("qna-streaming", "https://abc.execute-api.us-east-1."
    ...                              "amazonaws.com/prod")  # doctest: +SKIP
    >>> send = streamer.listener_for("session-1")  # doctest: +SKIP
    >>> send("Humpty Dumpty sat")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: How often a connection gets the answer so far, at most (each post is one HTTPS call).
MIN_INTERVAL_SECONDS = 0.25


class WebSocketStreamer:
    """Finds a session's WebSocket connection and posts partial answers to it."""

    def __init__(self, table: str, endpoint: str, *, dynamodb: Any = None, management: Any = None,
                 clock: Callable[[], float] = time.monotonic):
        from knowledge.aws import LazyClient

        self.table, self.endpoint, self._clock = table, endpoint, clock
        self._dynamodb = LazyClient("dynamodb", read_timeout=2, client=dynamodb)
        self._management = LazyClient("apigatewaymanagementapi", read_timeout=2,
                                      client=management, endpoint_url=endpoint)

    @classmethod
    def from_environment(cls) -> WebSocketStreamer | None:
        """The streamer the template configures (``STREAMING_TABLE``, ``STREAMING_ENDPOINT``),
        or None when streaming is not deployed."""
        table = os.environ.get("STREAMING_TABLE", "").strip()
        endpoint = os.environ.get("STREAMING_ENDPOINT", "").strip()
        return cls(table, endpoint) if table and endpoint else None

    def _clients(self) -> tuple[Any, Any]:
        return self._dynamodb.get(), self._management.get()

    def connection_of(self, session_id: str) -> str | None:
        """The connection the session's client registered, if any."""
        dynamodb, _ = self._clients()
        item = dynamodb.get_item(TableName=self.table, Key={"sessionId": {"S": session_id}},
                                 ConsistentRead=True).get("Item") or {}
        return (item.get("connectionId") or {}).get("S")

    def listener_for(self, session_id: str) -> Callable[[str], None] | None:
        """A function posting the answer so far to the session's connection; None when the
        session has none (or the lookup fails: the turn goes on without streaming)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            connection = self.connection_of(session_id)
        except (BotoCoreError, ClientError) as exc:
            log.warning("no streaming for this turn: %s", exc)
            return None
        if not connection:
            return None
        _, management = self._clients()
        state = {"last": -MIN_INTERVAL_SECONDS, "gone": False}

        def send(so_far: str) -> None:
            now = self._clock()
            if state["gone"] or now - state["last"] < MIN_INTERVAL_SECONDS:
                return
            state["last"] = now
            data = json.dumps({"type": "partial", "sessionId": session_id, "text": so_far})
            try:
                management.post_to_connection(ConnectionId=connection, Data=data.encode())
            except (BotoCoreError, ClientError) as exc:
                state["gone"] = True  # a client that left, or a throttle: stop for this turn
                log.info("streaming stopped for this turn: %s", exc)
        return send
