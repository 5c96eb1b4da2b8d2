"""A sample embeddings Lambda for ``EMBEDDINGS_API=LAMBDA``, backed by Amazon Bedrock.

It honours QnABot's embeddings plugin contract:

* event: ``{"inputType": "q" | "a", "inputText": "..."}`` ("q": a question or query,
  "a": an answer or passage);
* reply: ``{"embedding": [float, ...]}`` with ``EMBEDDINGS_DIMENSIONS`` numbers.

A bad event or a Bedrock failure raises, so the caller sees a ``FunctionError`` with the
message. The file is self-contained (standard library and the boto3 of the Lambda runtime)
so it deploys as a single-file zip; ``tests/knowledge/embeddings/test_embeddings_plugin.py``
checks that it sends the same request bodies as ``knowledge.embeddings.bedrock``.

Environment variables:

``EMBEDDINGS_MODEL_ID``    ``amazon.titan-embed-text-v2:0`` (default), or
                           ``cohere.embed-english-v3`` / ``cohere.embed-multilingual-v3``
``EMBEDDINGS_DIMENSIONS``  256, 512 or 1024 (default) for Titan v2; 1024 for Cohere

Example:
    >>> lambda_handler({"inputType": "q", "inputText": "What is QnABot?"}, None)  # doctest: +SKIP
    {'embedding': [0.0123, -0.0456, ...]}
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

TITAN_V2 = "amazon.titan-embed-text-v2:0"
TITAN_V2_DIMENSIONS = (256, 512, 1024)
TITAN_MAX_CHARACTERS = 50_000
COHERE_MAX_CHARACTERS = 2048
COHERE_INPUT_TYPES = {"q": "search_query", "a": "search_document"}

_client: Any = None


class PluginError(ValueError):
    """A bad event, a bad configuration, or a bad reply from Bedrock."""


def bedrock_client() -> Any:
    """The ``bedrock-runtime`` client, created once per Lambda container."""
    global _client
    if _client is None:
        import boto3
        from botocore.config import Config

        _client = boto3.client("bedrock-runtime", config=Config(
            retries={"mode": "adaptive", "max_attempts": 4}, read_timeout=30))
    return _client


def settings() -> tuple[str, int]:
    """The model id and dimensions from the environment, checked."""
    model_id = os.environ.get("EMBEDDINGS_MODEL_ID", TITAN_V2).strip() or TITAN_V2
    raw = os.environ.get("EMBEDDINGS_DIMENSIONS", "1024").strip() or "1024"
    try:
        dimensions = int(raw)
    except ValueError as error:
        raise PluginError(f"EMBEDDINGS_DIMENSIONS={raw!r} is not a number") from error
    is_cohere = model_id.startswith("cohere.embed-")
    allowed = (1024,) if is_cohere else TITAN_V2_DIMENSIONS
    if not is_cohere and "amazon.titan-embed-text-v2" not in model_id:
        raise PluginError(f"EMBEDDINGS_MODEL_ID={model_id!r} is not supported: use {TITAN_V2} "
                          "or cohere.embed-english-v3 / cohere.embed-multilingual-v3")
    if dimensions not in allowed:
        raise PluginError(f"{model_id} gives {' or '.join(map(str, allowed))} dimensions, "
                          f"not EMBEDDINGS_DIMENSIONS={dimensions}")
    return model_id, dimensions


def request_body(model_id: str, dimensions: int, text: str, input_type: str) -> dict[str, Any]:
    """The Bedrock ``InvokeModel`` body for one text."""
    if model_id.startswith("cohere.embed-"):
        return {"texts": [text[:COHERE_MAX_CHARACTERS]],
                "input_type": COHERE_INPUT_TYPES[input_type], "truncate": "END"}
    return {"inputText": text[:TITAN_MAX_CHARACTERS], "dimensions": dimensions,
            "normalize": True}


def embed(client: Any, model_id: str, dimensions: int, text: str,
          input_type: str) -> list[float]:
    """One embedding from Bedrock; zeros for a blank text (Bedrock rejects empty input)."""
    if not text.strip():
        return [0.0] * dimensions
    response = client.invoke_model(
        modelId=model_id, body=json.dumps(request_body(model_id, dimensions, text, input_type)),
        contentType="application/json", accept="application/json")
    reply = json.loads(response["body"].read())
    if not isinstance(reply, dict):
        raise PluginError(f"{model_id} replied with {type(reply).__name__}, not a JSON object")
    if model_id.startswith("cohere.embed-"):
        vectors = reply.get("embeddings")
        vector = vectors[0] if isinstance(vectors, list) and vectors else None
    else:
        vector = reply.get("embedding")
    if not isinstance(vector, list) or len(vector) != dimensions:
        length = len(vector) if isinstance(vector, list) else "no"
        raise PluginError(f"{model_id} returned {length} numbers, expected {dimensions}")
    return [float(value) for value in vector]


def parse_event(event: Any) -> tuple[str, str]:
    """``(input_text, input_type)`` from QnABot's event, or :class:`PluginError`."""
    if not isinstance(event, dict) or not isinstance(event.get("inputText"), str):
        raise PluginError('expected an event {"inputType": "q" | "a", "inputText": "..."}')
    input_type = event.get("inputType", "q")
    if input_type not in COHERE_INPUT_TYPES:
        raise PluginError(f'inputType must be "q" or "a", not {input_type!r}')
    return event["inputText"], input_type


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, list[float]]:
    """Lambda entry point: ``{"inputType", "inputText"}`` -> ``{"embedding": [...]}``."""
    text, input_type = parse_event(event)
    model_id, dimensions = settings()
    vector = embed(bedrock_client(), model_id, dimensions, text, input_type)
    logger.debug("embedded %d characters (%s) with %s", len(text), input_type, model_id)
    return {"embedding": vector}
