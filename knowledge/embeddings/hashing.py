"""A deterministic, dependency-free embeddings model for tests and quick experiments.

Each word (lower-cased, and its 3-letter prefix) is hashed into a bucket; the vector counts
buckets. Texts that share words are similar and unrelated texts are not, which is all the
tests of storage and the pipeline need. It knows no synonyms: never use it for real matching.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from knowledge.embeddings.base import InputType, normalize_rows

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbeddings:
    """Bag-of-words hashed into ``dimension`` buckets, L2-normalised."""

    def __init__(self, dimension: int = 64):
        self._dimension = dimension
        self.calls: list[tuple[int, InputType]] = []  # (number of texts, input type) per call

    @property
    def model_id(self) -> str:
        return f"test/hashing-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str], input_type: InputType = "q") -> np.ndarray:
        self.calls.append((len(texts), input_type))
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                for token in (word, word[:3]):
                    digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
                    out[row, int.from_bytes(digest, "little") % self._dimension] += 1.0
        return normalize_rows(out)
