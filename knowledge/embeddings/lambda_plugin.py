"""Embeddings from the user's own Lambda function (QnABot's ``EMBEDDINGS_API=LAMBDA``).

QnABot's contract: the function is invoked with ``{"inputType": "q" | "a", "inputText": text}``
("q" for questions and queries, "a" for answers and passages) and returns
``{"embedding": [float, ...]}`` of ``EMBEDDINGS_DIMENSIONS`` numbers. One text per call; a
batch runs on a small thread pool. ``infra/plugins/embeddings_plugin`` is a sample function.

Example:
    >>> model = LambdaEmbeddings("arn:aws:lambda:us-east-1:123456789012:function:embed", 1536)
    >>> model.model_id
    'lambda/embed/1536'
    >>> model.embed(["How do I reset my password?"]).shape  # doctest: +SKIP
    (1, 1536)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from knowledge.aws import LazyClient
from knowledge.embeddings.base import EmbeddingsError, InputType, normalize_rows

#: Retries after the first attempt (botocore's ``max_attempts``), with adaptive back-off.
RETRY_ATTEMPTS = 4


def function_name(arn_or_name: str) -> str:
    """The function's name (with its alias or version, if any) from an ARN or a name.

    Example:
        >>> function_name("arn:aws:lambda:us-east-1:123456789012:function:embed:live")
        'embed:live'
        >>> function_name("embed")
        'embed'
    """
    marker = ":function:"
    return arn_or_name.split(marker, 1)[1] if marker in arn_or_name else arn_or_name


class LambdaEmbeddings:
    """An :class:`~knowledge.embeddings.base.Embeddings` that invokes a Lambda per text.

    Example:
        >>> LambdaEmbeddings("embed", dimension=768).dimension
        768
    """

    def __init__(self, function: str, dimension: int, client: Any = None, *,
                 region_name: str | None = None, read_timeout: float = 60.0,
                 max_workers: int = 4):
        if dimension <= 0:
            raise EmbeddingsError(
                f"Lambda embeddings need a positive EMBEDDINGS_DIMENSIONS, got {dimension}")
        self.function = function
        self._name = function_name(function)
        self._dimension = dimension
        self.region_name = region_name
        self.read_timeout = read_timeout
        self.max_workers = max(1, max_workers)
        self._client = LazyClient("lambda", read_timeout=read_timeout, connect_timeout=10,
                                  max_attempts=RETRY_ATTEMPTS, region=region_name, client=client)

    @property
    def model_id(self) -> str:
        return f"lambda/{self._name}/{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def client(self) -> Any:
        """The ``lambda`` client, built on first use."""
        return self._client.get()

    def embed(self, texts: Sequence[str], input_type: InputType = "q") -> np.ndarray:
        """Unit vectors for ``texts``; raises :class:`EmbeddingsError` naming the function."""
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        if len(texts) == 1 or self.max_workers == 1:
            vectors = [self._embed_one(text, input_type) for text in texts]
        else:
            with ThreadPoolExecutor(max_workers=min(self.max_workers, len(texts)),
                                    thread_name_prefix="lambda-embed") as pool:
                vectors = list(pool.map(lambda text: self._embed_one(text, input_type), texts))
        return normalize_rows(np.stack(vectors))

    def _embed_one(self, text: str, input_type: InputType) -> np.ndarray:
        from botocore.exceptions import BotoCoreError, ClientError

        payload = json.dumps({"inputType": input_type, "inputText": text})
        try:
            response = self.client.invoke(FunctionName=self.function,
                                          InvocationType="RequestResponse", Payload=payload)
            raw = response["Payload"].read()
        except ClientError as error:
            details = error.response.get("Error", {})
            raise self._error(f"failed: {details.get('Code', 'Error')}: "
                              f"{details.get('Message', error)}") from error
        except BotoCoreError as error:
            raise self._error(f"could not be invoked: {error}") from error
        try:
            reply = json.loads(raw) if raw else None
        except ValueError as error:
            raise self._error(f"returned invalid JSON: {raw[:200]!r}") from error
        if response.get("FunctionError") or (isinstance(reply, dict) and "errorMessage" in reply):
            details = reply if isinstance(reply, dict) else {}
            kind = details.get("errorType") or response.get("FunctionError") or "Error"
            raise self._error(f"raised {kind}: {details.get('errorMessage', raw[:200])}")
        if not isinstance(reply, dict) or not isinstance(reply.get("embedding"), list):
            raise self._error('returned no "embedding" list (expected {"embedding": [...]})')
        try:
            vector = np.asarray(reply["embedding"], dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise self._error('returned an "embedding" that is not a list of numbers') from error
        if vector.shape != (self._dimension,):
            raise self._error(f"returned {vector.size} numbers, expected {self._dimension} "
                              "(EMBEDDINGS_DIMENSIONS)")
        return vector

    def _error(self, problem: str) -> EmbeddingsError:
        return EmbeddingsError(f"Embeddings Lambda {self._name} {problem}")
