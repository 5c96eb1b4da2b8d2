"""A Powertools REST resolver that can resolve many requests at once, one per thread.

Powertools' ``resolve`` stores the current event and Lambda context on the ``BaseRouter``
*class*, and the per-request route context on the instance, and builds each route's middleware
stack on its first call: fine in Lambda (one event at a time per process), wrong for a threaded
server. :class:`ConcurrentRestResolver` keeps the three per thread and builds each stack once
under a lock, so ``qnabot serve`` resolves requests concurrently through one app.

Example:
    >>> app = ConcurrentRestResolver()
    >>> @app.get("/ping")
    ... def ping():
    ...     return {"path": app.current_event.path}
    >>> event = {"path": "/ping", "httpMethod": "GET", "headers": {}, "body": None,
    ...          "requestContext": {}, "queryStringParameters": None}
    >>> app.resolve(event, None)["body"]
    '{"path":"/ping"}'
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.api_gateway import Route
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent


class ConcurrentRestResolver(APIGatewayRestResolver):
    """An ``APIGatewayRestResolver`` whose current event, Lambda context and route context are
    kept per thread."""

    def __init__(self, *args: Any, **kwargs: Any):
        self._local = threading.local()
        self._build_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    @property
    def current_event(self) -> BaseProxyEvent:  # type: ignore[override]
        return self._local.event

    @current_event.setter
    def current_event(self, value: BaseProxyEvent) -> None:
        self._local.event = value

    @property
    def lambda_context(self) -> Any:  # type: ignore[override]
        return getattr(self._local, "lambda_context", None)

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._local.lambda_context = value

    @property
    def context(self) -> dict:  # type: ignore[override]
        context = getattr(self._local, "context", None)
        if context is None:
            context = self._local.context = {}
        return context

    @context.setter
    def context(self, value: dict) -> None:
        self._local.context = value

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        """Resolve ``event`` in this thread (the event stays this thread's own)."""
        if isinstance(event, BaseProxyEvent):
            event = event.raw_event
        self.current_event = self._to_proxy_event(dict(event))
        self.lambda_context = context
        try:
            return self._build_response(self._resolve())
        finally:
            self.clear_context()

    def _call_route(self, route: Route, route_arguments: dict[str, str]) -> Any:
        # Two first calls at once would each wrap the stack, leaving middlewares doubled.
        if not route._middleware_stack_built:
            with self._build_lock:
                if not route._middleware_stack_built:
                    route._build_middleware_stack(router_middlewares=self._router_middlewares,
                                                  app=self)
        return super()._call_route(route, route_arguments)

    def route_for(self, method: str, path: str) -> Route | None:
        """The route a request would reach, without resolving it (None when none matches):
        lets the HTTP edge refuse a stranger before reading the body."""
        path = self._remove_prefix(path)
        for route in self._static_routes + self._dynamic_routes:
            if route.method == method.upper() and route.rule.match(path):
                return route
        return None
