"""One way to make the boto3 clients of the AWS adapters (embeddings, LLMs, Kendra, hooks):
boto3 is imported only when a client is first needed, and every client has explicit time limits
and botocore's adaptive retries for throttling.

Example:
    >>> client = aws_client("kendra", read_timeout=5)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any


def aws_client(service: str, *, read_timeout: float, connect_timeout: float = 2,
               max_attempts: int = 2, region: str | None = None) -> Any:
    """A boto3 client for ``service`` with these time limits and adaptive retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(service, region_name=region, config=Config(
        connect_timeout=min(connect_timeout, read_timeout), read_timeout=read_timeout,
        retries={"mode": "adaptive", "max_attempts": max_attempts}))
