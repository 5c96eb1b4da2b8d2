"""Knowledge-base items in QnABot's import format.

An :class:`Item` wraps the validated QnABot JSON of one item (the source of truth, so fields we
do not know survive an import/export round trip) and gives typed access to the fields the bot
uses. Build items with :func:`parse_item`, which validates against the JSON Schemas in
``knowledge/schemas``.

Example:
    >>> item = parse_item({"qid": "Hello.001", "q": ["Hi"], "a": "Hello!"})
    >>> item.kind, item.questions
    ('qna', ('Hi',))
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from knowledge.client_filters import filter_terms
from knowledge.validation import FieldProblem, validate_item_json

#: ``quiz`` items are questions of a quiz: kept and exported, asked by the quiz, never matched;
#: a ``slottype`` only defines a Lex slot type.
ItemKind = Literal["qna", "text", "quiz", "slottype"]
#: Kinds of items a search may find.
SEARCHABLE_KINDS = frozenset({"qna", "text"})
#: A question ``QID::<qid>`` asks for that item by its qid (QnABot's direct lookup).
QID_PREFIX = "QID::"
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")

#: QnABot marks the items that answer unmatched questions and errors by a special question.
DEFAULT_NO_HITS_QUESTION = "no_hits"


class InvalidItemError(ValueError):
    """Raised by :func:`parse_item` with every problem found in one item."""

    def __init__(self, problems: list[FieldProblem], qid: str | None = None):
        self.problems = problems
        self.qid = qid
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class Button:
    """A response-card button: what it shows and what it sends when clicked."""

    text: str
    value: str


@dataclass(frozen=True)
class Card:
    """An item's response card (QnABot's ``r`` field)."""

    title: str = ""
    subtitle: str = ""
    image_url: str = ""
    buttons: tuple[Button, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when the card has nothing to show (QnABot exports often carry empty cards)."""
        return not (self.title or self.subtitle or self.image_url or self.buttons)


@dataclass(frozen=True)
class Item:
    """One validated item. ``data`` is the item's QnABot JSON with ``type`` filled in."""

    data: Mapping[str, Any] = field(repr=False)

    @property
    def qid(self) -> str:
        return self.data["qid"]

    @property
    def kind(self) -> ItemKind:
        return self.data["type"]

    @property
    def questions(self) -> tuple[str, ...]:
        """The item's questions (empty for a text passage)."""
        return tuple(self.data.get("q", ()))

    @property
    def searchable(self) -> bool:
        """False for items that are never matched (a ``quiz`` question, a ``slottype``)."""
        return self.kind in SEARCHABLE_KINDS

    @property
    def answer(self) -> str:
        """The plain-text answer of a QnA item, the passage of a text item, a slot type's
        description or qid, "" for a quiz (neither of the last two is ever searched)."""
        if self.kind == "qna":
            return self.data["a"]
        if self.kind == "text":
            return self.data["passage"]
        if self.kind == "slottype":
            return self.data.get("descr") or self.qid
        return ""

    @property
    def passage(self) -> str:
        return self.data.get("passage", "")

    @property
    def markdown(self) -> str:
        """The markdown alternative (``alt.markdown``), empty when absent."""
        return (self.data.get("alt") or {}).get("markdown", "") or ""

    @property
    def ssml(self) -> str:
        """The SSML alternative (``alt.ssml``), empty when absent."""
        return (self.data.get("alt") or {}).get("ssml", "") or ""

    @property
    def ref_markdown(self) -> str:
        """A text passage's source-link markdown (``refMarkdown``)."""
        return self.data.get("refMarkdown", "") or ""

    @property
    def ref_link(self) -> tuple[str, str] | None:
        """The (title, URL) of the first markdown link in ``refMarkdown``, if it has one."""
        match = _LINK.search(self.ref_markdown)
        return (match.group(1), match.group(2)) if match else None

    @property
    def topic(self) -> str:
        return self.data.get("t", "") or ""

    @property
    def card(self) -> Card | None:
        """The response card, or None when the item has none or only an empty one."""
        raw = self.data.get("r")
        if not raw:
            return None
        card = Card(
            title=raw.get("title", "") or "",
            subtitle=raw.get("subTitle", "") or "",
            image_url=raw.get("imageUrl", "") or "",
            buttons=tuple(
                Button(b.get("text", ""), b.get("value", "")) for b in raw.get("buttons") or ()
            ),
        )
        return None if card.is_empty else card

    @property
    def lambda_hook(self) -> str:
        """The item's lambda hook (``l``): a function name or ARN, empty when absent."""
        return self.data.get("l", "") or ""

    @property
    def lambda_args(self) -> tuple[str, ...]:
        return tuple(a for a in self.data.get("args") or () if a)

    @property
    def client_filter_values(self) -> tuple[str, ...]:
        """The words of ``clientFilterValues``, lowercased as QnABot matches them; empty means
        "any client" (see :mod:`knowledge.client_filters`)."""
        raw = self.data.get("clientFilterValues", "") or ""
        return filter_terms(raw if isinstance(raw, str) else ",".join(map(str, raw)))

    @property
    def session_attributes(self) -> dict[str, str]:
        """The ``sa`` list as a mapping of attribute name to value."""
        return {sa["text"]: sa["value"] for sa in self.data.get("sa") or () if sa.get("text")}

    @property
    def next_qid(self) -> str:
        return self.data.get("next", "") or ""

    @property
    def enable_qid_intent(self) -> bool:
        return bool(self.data.get("enableQidIntent", False))

    @property
    def kendra_redirect_query(self) -> str:
        return self.data.get("kendraRedirectQueryText", "") or ""

    @property
    def reprompt(self) -> str:
        return self.data.get("rp", "") or ""

    @property
    def conditional_chaining(self) -> str:
        """The ``conditionalChaining`` rule: an expression or ``Lambda::<name>``; empty if none."""
        value = self.data.get("conditionalChaining", "")
        return value.strip() if isinstance(value, str) else ""

    @property
    def elicit_response(self) -> Mapping[str, Any]:
        """``elicitResponse`` (``responsebot_hook``, ``response_sessionattr_namespace``)."""
        value = self.data.get("elicitResponse")
        return value if isinstance(value, Mapping) else {}

    @property
    def bot_routing(self) -> Mapping[str, Any]:
        """``botRouting`` (``specialty_bot``, ``specialty_bot_name``, attributes to merge ...)."""
        value = self.data.get("botRouting")
        return value if isinstance(value, Mapping) else {}

    def to_json(self) -> dict[str, Any]:
        """A deep copy of the item's QnABot JSON, ready to export."""
        return copy.deepcopy(dict(self.data))


def parse_item(raw: Any) -> Item:
    """Validate one item in QnABot's JSON format and return it as an :class:`Item`.

    A missing ``type`` means ``qna``. Raises :class:`InvalidItemError` listing every problem.

    Example:
        >>> parse_item({"qid": "P.1", "type": "text", "passage": "Humpty sat."}).kind
        'text'
    """
    problems = validate_item_json(raw)
    qid = raw.get("qid") if isinstance(raw, dict) and isinstance(raw.get("qid"), str) else None
    if problems:
        raise InvalidItemError(problems, qid=qid)
    data = copy.deepcopy(raw)
    data.setdefault("type", "qna")
    return Item(data)
