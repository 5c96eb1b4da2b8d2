"""Slots of QID intents: the dialog code hook and slot value caching, as QnABot runs them.

An item with ``enableQidIntent`` becomes the Lex intent ``QID-INTENT-<qid>`` with the item's
``slots`` (``slotName``, ``slotType``, ``slotRequired``, ``slotValueCached``, ``slotPrompt``,
``slotSampleUtterances``). The bot builder turns the intent's dialog code hook on, so while Lex
elicits the slots it asks the fulfillment Lambda first (``invocationSource: DialogCodeHook``):

* a slot the user has filled keeps its value; when the item caches it (``slotValueCached``),
  the value is kept in the session at ``qnabotcontext.slot.<slotName>`` for the rest of it;
* an empty slot the item caches takes the value cached on an earlier turn, by this item or
  any other with a slot of that name, so Lex does not ask again;
* the first required slot still empty is the one Lex elicits next (with the slot's prompt);
  when none is, Lex goes on to fulfillment.

The fulfilled turn reads the values as QnABot's templates do: ``{{Slots.<slotName>}}`` and
``{{SessionAttributes.qnabotcontext.slot.<slotName>}}``.

Example:
    >>> slots = (QidSlot("city", required=True, cached=True), QidSlot("day", required=True))
    >>> fill = fill_slots(slots, filled={"day": "Monday"}, cache={"city": "Paris"})
    >>> fill.values, fill.next_slot, fill.cache
    ({'city': 'Paris', 'day': 'Monday'}, '', {'city': 'Paris'})
    >>> fill_slots(slots, filled={}, cache={}).next_slot
    'city'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fulfillment.lex_event import clean_text
from fulfillment.model import Answer, Request
from knowledge.items import Item

if TYPE_CHECKING:  # the pipeline imports its stages lazily; typing needs no import cycle
    from fulfillment.pipeline import TurnState

#: The Lex invocation source of a dialog code hook call (the other is ``FulfillmentCodeHook``).
DIALOG_CODE_HOOK = "DialogCodeHook"
#: The ``qnabotcontext`` entry holding cached slot values (QnABot's ``qnabotcontext.slot``).
CACHE_KEY = "slot"


@dataclass(frozen=True)
class QidSlot:
    """What the fulfillment side needs of an item's ``slots`` entry."""

    name: str
    required: bool = False
    cached: bool = False


@dataclass(frozen=True)
class SlotFill:
    """The slots of a QID intent after the cache is applied.

    ``values`` has every slot of the item (None when still empty), ``next_slot`` the required
    slot Lex must elicit next ('' when none), ``cache`` the session's cached values afterwards.
    """

    values: dict[str, str | None]
    next_slot: str = ""
    cache: dict[str, str] = field(default_factory=dict)
    qid: str = ""


class ItemSource(Protocol):
    """Where items are looked up by qid (a knowledge base store)."""

    def get(self, qid: str) -> Item | None: ...


def item_slots(item: Item) -> tuple[QidSlot, ...]:
    """The item's slots (entries without a ``slotName`` skipped).

    >>> from knowledge.items import parse_item
    >>> item = parse_item({"qid": "A.1", "q": ["x"], "a": "y", "slots": [
    ...     {"slotName": "city", "slotType": "AMAZON.City", "slotValueCached": True}]})
    >>> item_slots(item)
    (QidSlot(name='city', required=False, cached=True),)
    """
    slots = []
    for raw in item.data.get("slots") or ():
        name = str(raw.get("slotName") or "").strip() if isinstance(raw, Mapping) else ""
        if name:
            slots.append(QidSlot(name, bool(raw.get("slotRequired")),
                                 bool(raw.get("slotValueCached"))))
    return tuple(slots)


def _text(value: Any) -> str:
    """A slot value as text ('' for anything that is not a non-empty string)."""
    return clean_text(value) if isinstance(value, str) else ""


def filled_values(lex_slots: Mapping[str, Any]) -> dict[str, str]:
    """The filled slots of a Lex V2 intent: name -> interpreted value (as QnABot reads them).

    >>> filled_values({"city": {"value": {"originalValue": "paris",
    ...                                   "interpretedValue": "Paris"}}, "day": None})
    {'city': 'Paris'}
    """
    values = {}
    for name, slot in lex_slots.items():
        value = slot.get("value") if isinstance(slot, Mapping) else None
        text = _text(value.get("interpretedValue") or value.get("originalValue")) \
            if isinstance(value, Mapping) else ""
        if text:
            values[str(name)] = text
    return values


def cached_values(context: Mapping[str, Any]) -> dict[str, str]:
    """The slot values cached in a ``qnabotcontext`` (non-text values, which a client could
    have sent, dropped).

    >>> cached_values({"slot": {"city": "Paris", "day": 3}})
    {'city': 'Paris'}
    """
    cache = context.get(CACHE_KEY)
    if not isinstance(cache, Mapping):
        return {}
    return {str(name): text for name, value in cache.items() if (text := _text(value))}


def fill_slots(slots: tuple[QidSlot, ...], filled: Mapping[str, str],
               cache: Mapping[str, str]) -> SlotFill:
    """Apply QnABot's rules: a filled slot stays (and is cached when the slot caches), an empty
    cached slot takes the cached value, the first required slot still empty is elicited."""
    values: dict[str, str | None] = {}
    new_cache = dict(cache)
    next_slot = ""
    for slot in slots:
        value = filled.get(slot.name) or None
        if value and slot.cached:
            new_cache[slot.name] = value
        elif not value and slot.cached:
            value = cache.get(slot.name) or None
        values[slot.name] = value
        if value is None and slot.required and not next_slot:
            next_slot = slot.name
    return SlotFill(values, next_slot, new_cache)


class SlotDialog:
    """Answers Lex's dialog code hook for QID intents from the items' slot definitions."""

    name = "qid_slots"

    def __init__(self, items: ItemSource):
        self.items = items

    def fill(self, request: Request) -> SlotFill | None:
        """The slots Lex should continue with; None when the intent is no QID intent of a QnA
        item (Lex then goes on with the intent as it is)."""
        item = self.items.get(request.qid) if request.qid else None
        if item is None or item.kind != "qna":
            return None
        fill = fill_slots(item_slots(item), filled_values(request.slots),
                          cached_values(request.context))
        return SlotFill(fill.values, fill.next_slot, fill.cache, qid=item.qid)


def is_dialog_hook(request: Request) -> bool:
    """True when Lex asks during slot elicitation, not for the answer."""
    return request.invocation_source == DIALOG_CODE_HOOK


class SlotCacheStep:
    """On a fulfilled QID-intent turn, caches the slots the item caches (as the dialog hook
    does), so a bot built without the dialog code hook still remembers them."""

    name = "slot_cache"

    def apply(self, state: TurnState, answer: Answer) -> Answer:
        """The answer, with ``qnabotcontext.slot`` updated when a cached slot was filled."""
        item, request = state.item, state.request
        if item is None or not request.qid or item.qid != request.qid or \
                answer.qid != item.qid:
            return answer
        cache = cached_values(request.context)
        fill = fill_slots(item_slots(item), filled_values(request.slots), cache)
        if fill.cache != cache:
            answer.context[CACHE_KEY] = fill.cache
        return answer
