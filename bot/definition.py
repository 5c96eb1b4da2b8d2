"""The Lex V2 bot definition, built from the knowledge base (no AWS calls here).

Per locale (``en_US`` by default) the bot has:

* ``QnaIntent`` with the single utterance ``{qnaslot}``: its slot type ``QnaSlotType`` carries
  every item question as a sample value (``OriginalValue`` resolution, so any question passes
  through verbatim) and its fulfillment code hook is the fulfillment Lambda;
* the built-in ``FallbackIntent``, also fulfilled by the Lambda;
* ``QID-INTENT-<qid>`` for each item with ``enableQidIntent``, its utterances the item's
  questions (so Lex itself routes them, as QnABot does), with the item's ``slots``: a question
  may name a slot as ``{slotName}``; a slot's type is a built-in ``AMAZON.*`` type, a
  ``slottype`` item (built as ``QID-SLOTTYPE-<qid>``), or a custom type already in the bot;
  an intent with slots has its dialog code hook on, so the fulfillment Lambda fills the slots
  the session cached before Lex asks for them (:mod:`fulfillment.qid_slots`);
* ``QID-SLOTTYPE-<qid>`` for each ``slottype`` item: its values (with synonyms when
  ``resolutionStrategyRestrict``, which makes Lex resolve to the listed values only);
* a Polly voice per locale, used by Amazon Connect.

Lex refuses a bot whose utterances repeat across intents, and only after a slow build, so
:func:`build_definition` refuses it first, naming every clash.

Example:
    >>> from knowledge.items import parse_item
    >>> items = [parse_item({"qid": "Hi.1", "q": ["Hello there?"], "a": "Hi!"})]
    >>> definition = build_definition(items, ["en_US"])
    >>> [intent.name for intent in definition.locales[0].intents]
    ['QnaIntent', 'FallbackIntent']
    >>> definition.locales[0].slot_values
    ('Hello there',)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.translation import UtteranceTranslator
from knowledge.items import Item

QNA_INTENT = "QnaIntent"
QNA_SLOT = "qnaslot"
QNA_SLOT_TYPE = "QnaSlotType"
FALLBACK_INTENT = "FallbackIntent"
FALLBACK_SIGNATURE = "AMAZON.FallbackIntent"
QID_INTENT_PREFIX = "QID-INTENT-"
QID_SLOTTYPE_PREFIX = "QID-SLOTTYPE-"
BUILTIN_SLOT_TYPE_PREFIX = "AMAZON."
#: QnABot's prompt for a slot without ``slotPrompt``.
DEFAULT_SLOT_PROMPT = "What is the question?"
MAX_SLOT_VALUE_CHARS = 140
DEFAULT_LOCALES = ("en_US",)
PLACEHOLDER_VALUE = "question"
#: Lex V2 quotas: sample values per slot type, characters per utterance or value.
MAX_SLOT_VALUES = 10_000
MAX_UTTERANCE_CHARS = 200
_INTENT_NAME = re.compile(r"^([0-9a-zA-Z][_-]?)+$")
_NOT_ALLOWED = re.compile(r"[^\w\s'.\-]", re.UNICODE)
_SPACES = re.compile(r"\s+")
_SLOT_REFERENCE = re.compile(r"\{([^{}\s]+)\}")

#: A Polly voice that speaks each Lex V2 locale (neural where Polly has one).
VOICES: dict[str, tuple[str, str]] = {
    "ca_ES": ("Arlet", "neural"),
    "de_AT": ("Hannah", "neural"),
    "de_DE": ("Vicki", "neural"),
    "en_AU": ("Olivia", "neural"),
    "en_GB": ("Amy", "neural"),
    "en_IE": ("Niamh", "neural"),
    "en_IN": ("Kajal", "neural"),
    "en_NZ": ("Aria", "neural"),
    "en_US": ("Joanna", "neural"),
    "en_ZA": ("Ayanda", "neural"),
    "es_419": ("Mia", "neural"),
    "es_ES": ("Lucia", "neural"),
    "es_US": ("Lupe", "neural"),
    "fi_FI": ("Suvi", "neural"),
    "fr_CA": ("Gabrielle", "neural"),
    "fr_FR": ("Lea", "neural"),
    "it_IT": ("Bianca", "neural"),
    "ja_JP": ("Kazuha", "neural"),
    "ko_KR": ("Seoyeon", "neural"),
    "nl_NL": ("Laura", "neural"),
    "no_NO": ("Ida", "neural"),
    "pl_PL": ("Ola", "neural"),
    "pt_BR": ("Camila", "neural"),
    "pt_PT": ("Ines", "neural"),
    "sv_SE": ("Elin", "neural"),
    "zh_CN": ("Zhiyu", "neural"),
}


class BotDefinitionError(ValueError):
    """The knowledge base cannot become a valid Lex bot; the message lists every problem."""


@dataclass(frozen=True)
class SlotDefinition:
    """A slot of a QID intent, from an item's ``slots`` entry."""

    name: str
    slot_type: str  # "AMAZON.*", a QID-SLOTTYPE-* name, or a custom type in the bot
    prompt: str = DEFAULT_SLOT_PROMPT
    required: bool = False
    sample_utterances: tuple[str, ...] = ()


@dataclass(frozen=True)
class SlotTypeValue:
    value: str
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class SlotTypeDefinition:
    """A custom slot type from a ``slottype`` item."""

    name: str
    qid: str
    description: str
    values: tuple[SlotTypeValue, ...]
    restrict: bool = False

    @property
    def resolution_strategy(self) -> str:
        return "TopResolution" if self.restrict else "OriginalValue"


@dataclass(frozen=True)
class IntentDefinition:
    """One intent: its utterances and slots, and whether it is the built-in fallback."""

    name: str
    utterances: tuple[str, ...] = ()
    qid: str = ""  # the item behind a QID intent
    parent_signature: str = ""  # "AMAZON.FallbackIntent" for the fallback
    slots: tuple[SlotDefinition, ...] = ()

    @property
    def dialog_code_hook(self) -> bool:
        """True for a QID intent with slots: Lex asks the fulfillment Lambda while it elicits
        them, which fills the values the session cached (``slotValueCached``)."""
        return bool(self.qid and self.slots)

    @property
    def has_slot(self) -> bool:
        """True when the intent has slots (created first, then the utterances naming them)."""
        return self.name == QNA_INTENT or bool(self.slots)


@dataclass(frozen=True)
class LocaleDefinition:
    """Everything Lex needs for one locale."""

    locale_id: str
    voice_id: str
    voice_engine: str
    slot_values: tuple[str, ...]
    intents: tuple[IntentDefinition, ...]
    nlu_confidence_threshold: float = 0.40
    slot_types: tuple[SlotTypeDefinition, ...] = ()


@dataclass(frozen=True)
class BotDefinition:
    """The whole bot: one entry per locale."""

    locales: tuple[LocaleDefinition, ...] = field(default_factory=tuple)

    def summary(self) -> dict:
        """What would be built, as JSON (``qnabot bot build --dry-run``)."""
        return {"locales": [{
            "locale": locale.locale_id,
            "voice": locale.voice_id,
            "slot_values": len(locale.slot_values),
            "intents": {intent.name: len(intent.utterances) for intent in locale.intents},
            **({"slot_types": {t.name: len(t.values) for t in locale.slot_types}}
               if locale.slot_types else {}),
        } for locale in self.locales]}


def clean_utterance(text: str) -> str:
    """``text`` as a Lex sample utterance: punctuation Lex rejects removed, spaces collapsed.

    Example:
        >>> clean_utterance("  What's the  Echo Show? (2nd gen)! ")
        "What's the Echo Show 2nd gen"
    """
    cleaned = _SPACES.sub(" ", _NOT_ALLOWED.sub(" ", text)).strip(" .-")
    return cleaned[:MAX_UTTERANCE_CHARS].strip()


def clean_slot_utterance(text: str) -> str:
    """``text`` cleaned as :func:`clean_utterance` does, keeping ``{slot}`` references.

    Example:
        >>> clean_slot_utterance("What's the weather in {city}?")
        "What's the weather in {city}"
    """
    parts = []
    last = 0
    for match in _SLOT_REFERENCE.finditer(text):
        parts.append(_SPACES.sub(" ", _NOT_ALLOWED.sub(" ", text[last:match.start()])))
        parts.append(match.group(0))
        last = match.end()
    parts.append(_SPACES.sub(" ", _NOT_ALLOWED.sub(" ", text[last:])))
    cleaned = _SPACES.sub(" ", "".join(parts)).strip(" .-")
    return cleaned[:MAX_UTTERANCE_CHARS].strip()


def qid_slot_type_name(qid: str) -> str:
    """The Lex slot type name of a ``slottype`` item, as QnABot names it.

    Example:
        >>> qid_slot_type_name("Colors.1")
        'QID-SLOTTYPE-Colors_dot_1'
    """
    return QID_SLOTTYPE_PREFIX + qid.replace(".", "_dot_")


def qid_intent_name(qid: str) -> str:
    """The Lex intent name of an item's QID intent (dots spelled out, as QnABot does).

    Example:
        >>> qid_intent_name("Alexa.001")
        'QID-INTENT-Alexa_dot_001'
    """
    return QID_INTENT_PREFIX + qid.replace(".", "_dot_")


def parse_locales(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """Locale ids from ``"en_US,fr_CA"`` (or a list); the default is ``en_US``.

    Raises :class:`BotDefinitionError` for a locale without a known voice.
    """
    parts = text.split(",") if isinstance(text, str) else list(text or ())
    locales = tuple(dict.fromkeys(part.strip() for part in parts if part.strip()))
    unknown = [locale for locale in locales if locale not in VOICES]
    if unknown:
        raise BotDefinitionError(f"unsupported Lex locale {', '.join(unknown)}; use one of "
                                 f"{', '.join(sorted(VOICES))}")
    return locales or DEFAULT_LOCALES


def _slot_types(items: Sequence[Item], problems: list[str]) -> dict[str, SlotTypeDefinition]:
    """qid -> the slot type of each ``slottype`` item."""
    found: dict[str, SlotTypeDefinition] = {}
    for item in items:
        if item.kind != "slottype":
            continue
        name = qid_slot_type_name(item.qid)
        if len(name) > 100 or not _INTENT_NAME.match(name):
            problems.append(f'slot type "{item.qid}" cannot name a Lex slot type ({name}): use '
                            "only letters, digits, dots, '_' and '-'")
            continue
        restrict = bool(item.data.get("resolutionStrategyRestrict"))
        values: dict[str, SlotTypeValue] = {}
        for entry in item.data.get("slotTypeValues") or ():
            value = str(entry.get("samplevalue", "")).strip()[:MAX_SLOT_VALUE_CHARS]
            synonyms = tuple(dict.fromkeys(
                s.strip() for s in str(entry.get("synonyms") or "").split(",")
                if s.strip() and s.strip().lower() != value.lower())) if restrict else ()
            if value:
                values.setdefault(value.lower(), SlotTypeValue(value, synonyms))
        if not values:
            problems.append(f'slot type "{item.qid}" has no slotTypeValues; Lex needs at '
                            "least one value")
            continue
        found[item.qid] = SlotTypeDefinition(
            name, item.qid, str(item.data.get("descr") or name)[:200], tuple(values.values()),
            restrict)
    return found


def _slots(item: Item, slot_types: dict[str, SlotTypeDefinition],
           problems: list[str]) -> tuple[SlotDefinition, ...]:
    """The slots of a QID intent item, checked as Lex will check them."""
    slots: list[SlotDefinition] = []
    for number, raw in enumerate(item.data.get("slots") or (), start=1):
        name = str(raw.get("slotName") or "").strip()
        kind = str(raw.get("slotType") or "").strip()
        where = f'qid "{item.qid}" slot {number}'
        if not name or not kind:
            problems.append(f"{where} needs a slotName and a slotType")
            continue
        if len(name) > 100 or not _INTENT_NAME.match(name):
            problems.append(f'{where}: "{name}" cannot name a Lex slot (letters, digits, '
                            "'_' and '-' only)")
            continue
        if kind in slot_types:
            kind = slot_types[kind].name
        utterances = tuple(u.strip() for u in str(raw.get("slotSampleUtterances") or "")
                           .split(",") if u.strip())
        slots.append(SlotDefinition(
            name, kind, str(raw.get("slotPrompt") or "").strip() or DEFAULT_SLOT_PROMPT,
            bool(raw.get("slotRequired")), utterances))
    names = [slot.name for slot in slots]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f'qid "{item.qid}" defines the slot {", ".join(repeated)} more than once')
    return tuple(slots)


def build_definition(items: Iterable[Item], locales: Sequence[str] = DEFAULT_LOCALES, *,
                     translate: UtteranceTranslator | None = None, native: str = "en"
                     ) -> BotDefinition:
    """The bot for ``items`` in ``locales``; raises :class:`BotDefinitionError` when utterances
    clash across intents, a QID intent, slot or slot type is invalid, or there are too many
    questions.

    With ``translate``, a locale in another language than ``native`` (the knowledge base's) is
    trained on the questions translated into its language, as QnABot does.
    """
    locales = parse_locales(locales)
    items = list(items)
    slot_values: dict[str, str] = {}  # lower-cased -> first spelling
    qid_intents: list[IntentDefinition] = []
    owners: dict[str, list[str]] = {}  # lower-cased utterance -> intents using it
    problems: list[str] = []
    slot_types = _slot_types(items, problems)
    for item in items:
        if not item.searchable:
            continue
        cleaned = [c for c in (clean_utterance(q) for q in item.questions
                               if not _SLOT_REFERENCE.search(q)) if c]
        for value in cleaned:
            slot_values.setdefault(value.lower(), value)
        if not item.enable_qid_intent:
            continue
        name = qid_intent_name(item.qid)
        if len(name) > 100 or not _INTENT_NAME.match(name):
            problems.append(f'qid "{item.qid}" cannot name a Lex intent ({name}): use only '
                            "letters, digits, dots, '_' and '-' (at most 89 characters), or "
                            "turn off enableQidIntent")
            continue
        slots = _slots(item, slot_types, problems)
        defined = {slot.name for slot in slots}
        utterances = tuple(dict.fromkeys(
            c for c in (clean_slot_utterance(q) for q in item.questions) if c))
        for utterance in utterances:
            unknown = sorted(set(_SLOT_REFERENCE.findall(utterance)) - defined)
            if unknown:
                problems.append(f'qid "{item.qid}": the question "{utterance}" names the slot '
                                f"{', '.join(unknown)}, which its slots do not define")
        if not utterances:
            problems.append(f'qid "{item.qid}" has enableQidIntent but no question Lex accepts')
            continue
        for utterance in {u.lower() for u in utterances}:
            owners.setdefault(utterance, []).append(name)
        qid_intents.append(IntentDefinition(name, utterances, qid=item.qid, slots=slots))
    for utterance, intents in sorted(owners.items()):
        if len(intents) > 1:
            problems.append(f'the utterance "{utterance}" is in {len(intents)} intents: '
                            f"{', '.join(sorted(intents))}. Keep it in one item only")
    if len(slot_values) > MAX_SLOT_VALUES:
        problems.append(f"{len(slot_values)} distinct questions exceed Lex's {MAX_SLOT_VALUES} "
                        f"sample values per slot type")
    if problems:
        raise BotDefinitionError("the bot cannot be built:\n- " + "\n- ".join(problems))
    intents = (IntentDefinition(QNA_INTENT, (f"{{{QNA_SLOT}}}",)),
               IntentDefinition(FALLBACK_INTENT, parent_signature=FALLBACK_SIGNATURE),
               *sorted(qid_intents, key=lambda intent: intent.name))
    # Lex needs at least one sample value; an empty knowledge base still gets a working bot.
    values = tuple(sorted(slot_values.values(), key=str.lower)) or (PLACEHOLDER_VALUE,)
    types = tuple(sorted(slot_types.values(), key=lambda t: t.name))
    return BotDefinition(tuple(
        LocaleDefinition(locale, *VOICES[locale], slot_types=types,
                         **_in_language(values, intents, _language(locale), native, translate))
        for locale in locales))


def _language(locale: str) -> str:
    """The language of a Lex locale, as Amazon Translate names it (``es_US`` -> ``es``)."""
    return locale.split("_")[0].lower()


def _in_language(values: tuple[str, ...], intents: tuple[IntentDefinition, ...], language: str,
                 native: str, translate: UtteranceTranslator | None) -> dict[str, Any]:
    """The slot values and intents of one locale: translated when its language is not the
    knowledge base's. Utterances naming slots (``{city}``) stay as written; a translation that
    would put one utterance in two intents is left out of the second."""
    if translate is None or language == native or values == (PLACEHOLDER_VALUE,):
        return {"slot_values": values, "intents": intents}
    plain = [u for intent in intents if intent.qid for u in intent.utterances
             if not _SLOT_REFERENCE.search(u)]
    texts = list(dict.fromkeys([*values, *plain]))
    translated = dict(zip(texts, (clean_utterance(t) for t in translate(texts, native, language)),
                          strict=True))
    local_values = tuple(dict.fromkeys(
        t for t in (translated[v] for v in values) if t).keys()) or values
    owners: dict[str, str] = {}
    local_intents = []
    for intent in intents:
        if not intent.qid:
            local_intents.append(intent)
            continue
        kept = []
        for utterance in intent.utterances:
            local = utterance if _SLOT_REFERENCE.search(utterance) else \
                translated.get(utterance) or utterance
            if owners.setdefault(local.lower(), intent.name) == intent.name:
                kept.append(local)
        local_intents.append(replace(intent, utterances=tuple(dict.fromkeys(kept)) or
                                     intent.utterances))
    return {"slot_values": local_values, "intents": tuple(local_intents)}
