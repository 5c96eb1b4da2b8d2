"""The ``Store`` port: where items and their vectors live, and the search primitives.

Two adapters implement it: the embedded default (:mod:`knowledge.stores.sqlite_store`,
SQLite FTS5 + numpy under ``QNABOT_HOME``) and Amazon OpenSearch
(:mod:`knowledge.stores.opensearch_store`).
The matching logic (hybrid fusion, thresholds, topic, the cascade) lives above the port in
:mod:`knowledge.matching`, so both backends answer the same way. The contract every adapter
must meet is the test suite in ``tests/knowledge/store_contract.py``.

Vectors are float32 and L2-normalised, so cosine similarity is a dot product.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np

from knowledge.items import Item


class SearchField(StrEnum):
    """What a search stage matches the question against."""

    QUESTIONS = "questions"  # each question of each QnA item
    ANSWERS = "answers"  # the answer of each QnA item
    PASSAGES = "passages"  # the passage of each text item


@dataclass(frozen=True)
class IndexInfo:
    """Which embeddings model the stored vectors came from."""

    model_id: str
    dimension: int


@dataclass(frozen=True)
class StoredItem:
    """An item with its vectors, ready to store.

    ``question_vectors`` has one row per question (shape ``(len(item.questions), dim)``; zero rows
    for a text item). ``answer_vector`` embeds the answer of a QnA item or the passage of a text
    item.
    """

    item: Item
    question_vectors: np.ndarray
    answer_vector: np.ndarray


@dataclass(frozen=True)
class FieldMatch:
    """One item found by :meth:`Store.search`, with both kinds of evidence.

    ``vector_score`` is the best cosine similarity between the query vector and the item's
    vectors in that field (for every candidate, including those found only by keywords).
    ``keyword_score`` is the best BM25 score of the query text against the field (0.0 when no
    query term occurs in it). ``matched_text`` is the question, answer or passage that scored
    best.
    """

    qid: str
    vector_score: float
    keyword_score: float
    matched_text: str
    topic: str = ""


@dataclass(frozen=True)
class ItemPage:
    """One page of a listing, and how many items match the filter in all."""

    items: list[Item]
    total: int


class DimensionMismatchError(RuntimeError):
    """The stored vectors come from another embeddings model than the one configured."""

    def __init__(self, stored: IndexInfo, current: IndexInfo):
        self.stored, self.current = stored, current
        super().__init__(
            f"The knowledge base was indexed with {stored.model_id} "
            f"({stored.dimension} dimensions) but the configured embeddings model is "
            f"{current.model_id} ({current.dimension} dimensions). Run `qnabot reindex` to "
            "re-embed every item with the configured model, or switch the embeddings setting back."
        )


class StoreError(RuntimeError):
    """The store cannot be used (unreadable or corrupt file, locked too long, unreachable).

    The message names the store and says what to do; every adapter raises it instead of its
    driver's own exceptions.
    """


class Store(Protocol):
    """Port for item storage and search. Every write is one transaction."""

    def index_info(self) -> IndexInfo | None:
        """The model the stored vectors came from, or None for an empty, never-written store."""
        ...

    def put(self, items: Iterable[StoredItem], *, replace_all: bool = False,
            index: IndexInfo) -> int:
        """Upsert items by qid in one transaction and return how many were written.

        With ``replace_all`` every other item is removed in the same transaction. ``index`` says
        which model made the vectors; writing vectors of another dimension than the stored ones
        raises :class:`DimensionMismatchError` unless ``replace_all`` is set.
        """
        ...

    def get(self, qid: str) -> Item | None:
        """The item with this qid, or None."""
        ...

    def get_many(self, qids: Sequence[str]) -> dict[str, Item]:
        """The items with these qids (missing ones are left out)."""
        ...

    def delete(self, qids: Sequence[str]) -> int:
        """Delete these items; return how many existed."""
        ...

    def list(self, *, qid_filter: str = "", prefix: bool = False, offset: int = 0,
             limit: int = 100) -> ItemPage:
        """Items sorted by qid whose qid contains (or, with ``prefix``, starts with) the filter.

        The filter is plain text, never a pattern.
        """
        ...

    def iter_items(self) -> Iterator[Item]:
        """Every item, sorted by qid."""
        ...

    def iter_stored(self) -> Iterator[StoredItem]:
        """Every QnA and text item with the vectors stored for it, sorted by qid (slot types,
        which have no vectors, are left out).

        The classifier trains on these, so nothing an import embedded is embedded again (in
        Lambda the embeddings cache starts empty: re-embedding would call Bedrock for every
        text). Vectors are float32, one question vector per question (zero rows for a text
        item); their length may differ from what was put (one store keeps unit vectors).
        """
        ...

    def count(self) -> int:
        """How many items are stored."""
        ...

    def search(self, field: SearchField, *, vector: np.ndarray | None, text: str | None,
               k: int, client_filter: str | None = None) -> list[FieldMatch]:
        """Candidates for one stage: the union of the ``k`` best by vector and ``k`` best by
        keywords, each with both scores, best ``vector_score`` first.

        With ``vector`` None the search is keywords only (``vector_score`` 0.0); with ``text``
        None or blank it is vectors only. Items with ``clientFilterValues`` are returned only
        when ``client_filter`` is one of their values; items without match every client.
        """
        ...
