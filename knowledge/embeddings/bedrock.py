"""Embeddings from Amazon Bedrock: Titan Text Embeddings v2, or Cohere Embed v3.

Titan v2 (``amazon.titan-embed-text-v2:0``) embeds one text per ``InvokeModel`` call, with
``{"inputText", "dimensions", "normalize"}``; a batch runs on a small thread pool. Cohere
Embed v3 (``cohere.embed-english-v3``, ``cohere.embed-multilingual-v3``) embeds up to 96 texts
per call with ``{"texts", "input_type", "truncate"}``, and distinguishes queries
(``search_query``, QnABot's input type "q") from documents (``search_document``, "a").

The boto3 client is built on first use with adaptive retries (4 after the first attempt), so
throttling is retried with back-off before it becomes an :class:`EmbeddingsError`.

Example:
    >>> model = BedrockEmbeddings(dimensions=512)
    >>> model.model_id, model.dimension
    ('bedrock/amazon.titan-embed-text-v2:0/512', 512)
    >>> model.embed(["How do I reset my password?"]).shape  # doctest: +SKIP
    (1, 512)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from knowledge.aws import LazyClient
from knowledge.embeddings.base import EmbeddingsError, InputType, normalize_rows

TITAN_V2 = "amazon.titan-embed-text-v2:0"
TITAN_V2_DIMENSIONS = (256, 512, 1024)
#: Titan v2 accepts at most 8,192 tokens or 50,000 characters; longer texts are cut here.
TITAN_MAX_CHARACTERS = 50_000
COHERE_MODELS = ("cohere.embed-english-v3", "cohere.embed-multilingual-v3")
COHERE_DIMENSION = 1024
#: Cohere Embed v3 on Bedrock: at most 96 texts per call, 2,048 characters per text.
COHERE_BATCH = 96
COHERE_MAX_CHARACTERS = 2048
COHERE_INPUT_TYPES = {"q": "search_query", "a": "search_document"}
#: Retries after the first attempt (botocore's ``max_attempts``), with adaptive back-off.
RETRY_ATTEMPTS = 4


class BedrockEmbeddings:
    """An :class:`~knowledge.embeddings.base.Embeddings` backed by Bedrock ``InvokeModel``.

    Empty (or blank) texts get a zero vector without a call: Bedrock rejects empty input.

    Example:
        >>> BedrockEmbeddings("cohere.embed-english-v3", dimensions=1024).model_id
        'bedrock/cohere.embed-english-v3/1024'
    """

    def __init__(self, model_id: str = TITAN_V2, dimensions: int = 1024, normalize: bool = True,
                 client: Any = None, *, region_name: str | None = None,
                 read_timeout: float = 30.0, max_workers: int = 4):
        self._family = _family(model_id)
        _check_dimensions(self._family, model_id, dimensions)
        self._model = model_id
        self._dimensions = dimensions
        self.normalize = normalize
        self.region_name = region_name
        self.read_timeout = read_timeout
        self.max_workers = max(1, max_workers)
        self._client = LazyClient("bedrock-runtime", read_timeout=read_timeout, connect_timeout=10,
                                  max_attempts=RETRY_ATTEMPTS, region=region_name, client=client)

    @property
    def model_id(self) -> str:
        return f"bedrock/{self._model}/{self._dimensions}"

    @property
    def dimension(self) -> int:
        return self._dimensions

    @property
    def client(self) -> Any:
        """The ``bedrock-runtime`` client, built on first use."""
        return self._client.get()

    def embed(self, texts: Sequence[str], input_type: InputType = "q") -> np.ndarray:
        """Unit vectors for ``texts``; raises :class:`EmbeddingsError` when Bedrock fails."""
        out = np.zeros((len(texts), self._dimensions), dtype=np.float32)
        rows = [row for row, text in enumerate(texts) if text.strip()]
        if not rows:
            return out
        wanted = [texts[row] for row in rows]
        if self._family == "cohere":
            vectors = self._embed_cohere(wanted, input_type)
        else:
            vectors = self._embed_titan(wanted)
        out[rows] = vectors
        return normalize_rows(out)

    # -- Titan v2 --------------------------------------------------------------------------

    def titan_body(self, text: str) -> dict[str, Any]:
        """The request body for one text (public so the sample Lambda can be checked)."""
        return {"inputText": text[:TITAN_MAX_CHARACTERS], "dimensions": self._dimensions,
                "normalize": self.normalize}

    def _embed_titan(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1 or self.max_workers == 1:
            return np.stack([self._embed_one_titan(text) for text in texts])
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(texts)),
                                thread_name_prefix="bedrock-embed") as pool:
            return np.stack(list(pool.map(self._embed_one_titan, texts)))

    def _embed_one_titan(self, text: str) -> np.ndarray:
        reply = self._invoke(self.titan_body(text))
        return self._vector(reply.get("embedding"), "embedding")

    # -- Cohere Embed v3 -------------------------------------------------------------------

    def cohere_body(self, texts: Sequence[str], input_type: InputType) -> dict[str, Any]:
        """The request body for up to 96 texts."""
        return {"texts": [text[:COHERE_MAX_CHARACTERS] for text in texts],
                "input_type": COHERE_INPUT_TYPES[input_type], "truncate": "END"}

    def _embed_cohere(self, texts: list[str], input_type: InputType) -> np.ndarray:
        vectors: list[np.ndarray] = []
        for start in range(0, len(texts), COHERE_BATCH):
            batch = texts[start:start + COHERE_BATCH]
            reply = self._invoke(self.cohere_body(batch, input_type))
            embeddings = reply.get("embeddings")
            if isinstance(embeddings, dict):  # the reply shape when embedding_types is set
                embeddings = embeddings.get("float")
            if not isinstance(embeddings, list) or len(embeddings) != len(batch):
                count = len(embeddings) if isinstance(embeddings, list) else "no"
                raise EmbeddingsError(
                    f"Bedrock model {self._model} returned {count} embeddings for "
                    f"{len(batch)} texts")
            vectors.extend(self._vector(vector, "embeddings[]") for vector in embeddings)
        return np.stack(vectors)

    # -- shared ----------------------------------------------------------------------------

    def _invoke(self, body: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.invoke_model(
                modelId=self._model, body=json.dumps(body),
                contentType="application/json", accept="application/json")
            raw = response["body"].read()
        except ClientError as error:
            raise EmbeddingsError(_client_error_message(self._model, error)) from error
        except BotoCoreError as error:
            raise EmbeddingsError(
                f"Bedrock model {self._model} could not be reached: {error}") from error
        try:
            reply = json.loads(raw)
        except ValueError as error:
            raise EmbeddingsError(
                f"Bedrock model {self._model} replied with invalid JSON: {raw[:200]!r}") from error
        if not isinstance(reply, dict):
            raise EmbeddingsError(
                f"Bedrock model {self._model} replied with {type(reply).__name__}, "
                "expected a JSON object")
        return reply

    def _vector(self, values: Any, field: str) -> np.ndarray:
        if not isinstance(values, list):
            raise EmbeddingsError(
                f"Bedrock model {self._model} replied without a list in {field!r}")
        try:
            vector = np.asarray(values, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise EmbeddingsError(
                f"Bedrock model {self._model} replied with non-numbers in {field!r}") from error
        if vector.shape != (self._dimensions,):
            raise EmbeddingsError(
                f"Bedrock model {self._model} returned a vector of length {vector.size}, "
                f"expected {self._dimensions}")
        return vector


def _family(model_id: str) -> str:
    if "amazon.titan-embed-text-v2" in model_id:
        return "titan"
    if any(name in model_id for name in COHERE_MODELS):
        return "cohere"
    raise EmbeddingsError(
        f'Bedrock embeddings model "{model_id}" is not supported: use {TITAN_V2} or one of '
        f"{', '.join(COHERE_MODELS)} (EMBEDDINGS_BEDROCK_MODEL_ID)")


def _check_dimensions(family: str, model_id: str, dimensions: int) -> None:
    allowed = TITAN_V2_DIMENSIONS if family == "titan" else (COHERE_DIMENSION,)
    if dimensions not in allowed:
        raise EmbeddingsError(
            f"{model_id} gives vectors of {' or '.join(map(str, allowed))} dimensions, not "
            f"{dimensions}: set EMBEDDINGS_DIMENSIONS to one of those")


def _client_error_message(model: str, error: Any) -> str:
    details = error.response.get("Error", {})
    code = details.get("Code", "Error")
    message = details.get("Message", str(error))
    if code in ("ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"):
        advice = (f"still throttled after {RETRY_ATTEMPTS} retries: lower the import "
                  "concurrency or ask for a higher Bedrock quota")
    elif code == "AccessDeniedException":
        advice = ("check that the role may call bedrock:InvokeModel and that access to the "
                  "model is enabled in the Bedrock console for this region")
    elif code in ("ResourceNotFoundException", "ValidationException"):
        advice = "check EMBEDDINGS_BEDROCK_MODEL_ID, EMBEDDINGS_DIMENSIONS and the region"
    else:
        advice = "see the message above"
    return f"Bedrock model {model} failed: {code}: {message} ({advice})"
