"""Helpers for the embeddings tests: stubbed AWS clients and recorded request bodies.

AWS clients are real botocore clients with fake credentials behind ``botocore.stub.Stubber``,
so no test touches the network.
"""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
from botocore.response import StreamingBody


def aws_client(service: str) -> Any:
    """A botocore client that can only be used behind a Stubber (fake credentials)."""
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def stream(payload: Any) -> StreamingBody:
    """A response body holding ``payload`` (JSON-encoded unless it is bytes)."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return StreamingBody(io.BytesIO(data), len(data))


def record_params(client: Any, operation: str) -> list[dict[str, Any]]:
    """A list that receives the parameters of every ``operation`` call made with ``client``."""
    seen: list[dict[str, Any]] = []
    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"before-parameter-build.{service}.{operation}",
                                lambda params, **_: seen.append(dict(params)))
    return seen


def unit(values: list[float]) -> list[float]:
    """``values`` scaled to unit length (what a normalising model returns)."""
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


def bedrock_reply(payload: Any) -> dict[str, Any]:
    """A stubbed ``InvokeModel`` response whose body is ``payload``."""
    return {"body": stream(payload), "contentType": "application/json"}
