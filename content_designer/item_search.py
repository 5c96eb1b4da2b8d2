"""Finding items in the designer: words anywhere in an item, filters, sorting, pages.

A :class:`ItemQuery` describes what the admin typed and picked; :func:`find_items` runs it
over the items and returns one page, the number of items matching, and the values the filters
offer (:class:`ItemFacets`). Text matches qid, questions, answer, markdown and passage,
ignoring case and accents ("cafe" finds "Café"), every word of the query somewhere in the
item. It reads every item once, which suits the designer's knowledge bases (tens of thousands
of items in well under a second).

Example:
    >>> from knowledge.items import parse_item
    >>> items = [parse_item({"qid": "Ferry.1", "q": ["When does the ferry leave?"], "a": "At 8."}),
    ...          parse_item({"qid": "Bus.1", "q": ["Is the bus accessible?"], "a": "Yes."})]
    >>> page = find_items(items, ItemQuery(text="FERRY"))
    >>> [item.qid for item in page.items], page.total
    (['Ferry.1'], 1)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from knowledge.items import Item

#: The Unicode blocks of combining marks (accents) that NFKD splits off letters.
_COMBINING_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")

SortKey = Literal["qid", "type", "topic", "questions", "answer"]
SORT_KEYS: tuple[str, ...] = ("qid", "type", "topic", "questions", "answer")


def fold(text: str) -> str:
    """``text`` for comparison: case folded, accents removed, spaces collapsed.

    >>> fold("  Café  CRÈME ")
    'cafe creme'
    """
    if text.isascii():  # most text: no accents to remove
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join(_COMBINING_MARKS.sub("", decomposed).split())


@dataclass(frozen=True)
class ItemQuery:
    """What to look for. Empty text and filters match every item."""

    text: str = ""
    topic: str | None = None  # "" means items without a topic
    item_type: str | None = None
    client: str | None = None  # a clientFilterValues value; "" means items open to all
    sort: SortKey = "qid"
    descending: bool = False
    offset: int = 0
    limit: int = 50


@dataclass
class ItemFacets:
    """The values the filters offer, over every item."""

    topics: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    clients: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, list[str]]:
        return {"topics": self.topics, "types": self.types, "clients": self.clients}


@dataclass
class FoundItems:
    """One page of the matching items, how many match in all, and the filter values."""

    items: list[Item]
    total: int
    facets: ItemFacets


def item_text(item: Item) -> str:
    """Everything the text search looks at in one item, folded."""
    parts = [item.qid, *item.questions, str(item.data.get("a") or ""), item.markdown,
             item.passage]
    return fold(" ".join(p for p in parts if p))


def sort_value(item: Item, key: str) -> str:
    """The folded text an item sorts by for a column."""
    if key == "type":
        return item.kind
    if key == "topic":
        return fold(item.topic)
    if key == "questions":
        return fold(item.questions[0] if item.questions else item.passage)
    if key == "answer":
        return fold(str(item.data.get("a") or "") or item.passage)
    return fold(item.qid)


def _matches(item: Item, words: list[str], query: ItemQuery) -> bool:
    if query.item_type is not None and item.kind != query.item_type:
        return False
    if query.topic is not None and item.topic != query.topic:
        return False
    if query.client is not None:
        values = item.client_filter_values
        if query.client == "" and values:
            return False
        if query.client and query.client not in values:
            return False
    if words:
        text = item_text(item)
        return all(word in text for word in words)
    return True


def find_items(items: Iterable[Item], query: ItemQuery) -> FoundItems:
    """The page of ``items`` that ``query`` asks for (see the module docstring)."""
    words = fold(query.text).split()
    topics: set[str] = set()
    types: set[str] = set()
    clients: set[str] = set()
    matching: list[Item] = []
    for item in items:
        if item.topic:
            topics.add(item.topic)
        types.add(item.kind)
        clients.update(item.client_filter_values)
        if _matches(item, words, query):
            matching.append(item)
    matching.sort(key=lambda item: (sort_value(item, query.sort), item.qid),
                  reverse=query.descending)
    page = matching[query.offset:query.offset + query.limit]
    return FoundItems(page, len(matching),
                      ItemFacets(sorted(topics), sorted(types), sorted(clients)))
