"""One way to make the boto3 clients of the AWS adapters (embeddings, LLMs, Kendra, hooks):
boto3 is imported only when a client is first needed, and every client has explicit time limits
and botocore's adaptive retries for throttling.

Example:
    >>> client = aws_client("kendra", read_timeout=5)  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from typing import Any


def aws_client(service: str, *, read_timeout: float, connect_timeout: float = 2,
               max_attempts: int = 2, region: str | None = None,
               endpoint_url: str | None = None) -> Any:
    """A boto3 client for ``service`` with these time limits and adaptive retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(service, region_name=region, endpoint_url=endpoint_url, config=Config(
        connect_timeout=min(connect_timeout, read_timeout), read_timeout=read_timeout,
        retries={"mode": "adaptive", "max_attempts": max_attempts}))


class LazyClient:
    """A boto3 client made by :func:`aws_client` on first use, once, even across threads.

    Example:
        >>> client = LazyClient("lambda", read_timeout=30)  # doctest: +SKIP
        >>> client.get().invoke(...)  # doctest: +SKIP
    """

    def __init__(self, service: str, *, read_timeout: float, connect_timeout: float = 2,
                 max_attempts: int = 2, region: str | None = None, client: Any = None,
                 endpoint_url: str | None = None):
        self._make = lambda: aws_client(service, read_timeout=read_timeout,
                                        connect_timeout=connect_timeout,
                                        max_attempts=max_attempts, region=region,
                                        endpoint_url=endpoint_url)
        self._client = client
        self._lock = threading.Lock()

    def get(self) -> Any:
        """The client (a given one, or one built now)."""
        with self._lock:
            if self._client is None:
                self._client = self._make()
            return self._client
