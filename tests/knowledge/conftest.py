"""Shared fixtures for the knowledge tests: items, deterministic embeddings, stored items.

Items are written as small QnABot JSON dicts and turned into :class:`StoredItem` values with
:class:`HashingEmbeddings`, so store tests need no model and no network.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pytest

from knowledge.embeddings.hashing import HashingEmbeddings
from knowledge.items import Item, parse_item
from knowledge.store import IndexInfo, StoredItem
from tests.shared_fixtures import FIXTURES

ItemLike = Item | Mapping[str, Any]


def as_item(raw: ItemLike) -> Item:
    """An :class:`Item` from an item or its QnABot JSON (validated)."""
    return raw if isinstance(raw, Item) else parse_item(dict(raw))


def stored_items(items: Iterable[ItemLike], embeddings: HashingEmbeddings) -> list[StoredItem]:
    """Embed the questions ("q") and the answer or passage ("a") of each item.

    Example:
        >>> [stored] = stored_items([{"qid": "A.1", "q": ["Hi"], "a": "Hello"}], HashingEmbeddings(8))
        >>> stored.question_vectors.shape
        (1, 8)
    """
    result = []
    for raw in items:
        item = as_item(raw)
        questions = (embeddings.embed(list(item.questions), "q") if item.questions
                     else np.zeros((0, embeddings.dimension), dtype=np.float32))
        answer = embeddings.embed([item.answer], "a")[0]
        result.append(StoredItem(item=item, question_vectors=questions, answer_vector=answer))
    return result


def load_package(name: str) -> list[Item]:
    """The items of one QnABot import package in ``../shared/fixtures`` (UTF-8 with BOM)."""
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8-sig"))
    return [parse_item(raw) for raw in data["qna"]]


@pytest.fixture
def embeddings() -> HashingEmbeddings:
    """Deterministic 64-dimension test embeddings."""
    return HashingEmbeddings(dimension=64)


@pytest.fixture
def index(embeddings: HashingEmbeddings) -> IndexInfo:
    """The :class:`IndexInfo` of the ``embeddings`` fixture."""
    return IndexInfo(embeddings.model_id, embeddings.dimension)


@pytest.fixture
def make_stored_items(
    embeddings: HashingEmbeddings,
) -> Callable[[Iterable[ItemLike]], list[StoredItem]]:
    """``make_stored_items([{"qid": ..., "q": [...], "a": ...}, item, ...])`` -> StoredItems."""
    return lambda items: stored_items(items, embeddings)


@pytest.fixture
def sample_items() -> list[Item]:
    """QnABot's 20 blog sample QnA items and its 2 nursery-rhyme text passages."""
    return (load_package("blog-samples-final.json")
            + load_package("TextPassage-NurseryRhymeExamples.json"))
