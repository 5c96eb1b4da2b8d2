"""The ``Embeddings`` port.

Example:
    >>> from knowledge.embeddings.hashing import HashingEmbeddings
    >>> HashingEmbeddings(dimension=8).embed(["hello"]).shape
    (1, 8)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

#: QnABot's plugin contract: "q" embeds a question or query, "a" an answer or passage.
InputType = Literal["q", "a"]


class EmbeddingsError(RuntimeError):
    """The embeddings provider failed (down, throttled, misconfigured, bad reply)."""


class Embeddings(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    @property
    def model_id(self) -> str:
        """A stable name for the model and its options, e.g. ``local/all-MiniLM-L6-v2``.

        Two configurations that give different vectors must have different ids: the id keys
        the embedding cache and is stored with the index.
        """
        ...

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        ...

    def embed(self, texts: Sequence[str], input_type: InputType = "q") -> np.ndarray:
        """Vectors for ``texts``, shape ``(len(texts), dimension)``, each of unit length.

        Raises :class:`EmbeddingsError` when the provider fails.
        """
        ...


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Scale each row to unit length (zero rows stay zero); returns float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
