"""The Lex V2 bot definition, built from the knowledge base (no AWS calls here).

Per locale (``en_US`` by default) the bot has:

* ``QnaIntent`` with the single utterance ``{qnaslot}``: its slot type ``QnaSlotType`` carries
  every item question as a sample value (``OriginalValue`` resolution, so any question passes
  through verbatim) and its fulfillment code hook is the fulfillment Lambda;
* the built-in ``FallbackIntent``, also fulfilled by the Lambda;
* ``QID-INTENT-<qid>`` for each item with ``enableQidIntent``, its utterances the item's
  questions (so Lex itself routes them, as QnABot does);
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
from dataclasses import dataclass, field

from knowledge.items import Item

QNA_INTENT = "QnaIntent"
QNA_SLOT = "qnaslot"
QNA_SLOT_TYPE = "QnaSlotType"
FALLBACK_INTENT = "FallbackIntent"
FALLBACK_SIGNATURE = "AMAZON.FallbackIntent"
QID_INTENT_PREFIX = "QID-INTENT-"
DEFAULT_LOCALES = ("en_US",)
PLACEHOLDER_VALUE = "question"
#: Lex V2 quotas: sample values per slot type, characters per utterance or value.
MAX_SLOT_VALUES = 10_000
MAX_UTTERANCE_CHARS = 200
_INTENT_NAME = re.compile(r"^([0-9a-zA-Z][_-]?)+$")
_NOT_ALLOWED = re.compile(r"[^\w\s'.\-]", re.UNICODE)
_SPACES = re.compile(r"\s+")

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
class IntentDefinition:
    """One intent: its utterances, and whether it is the built-in fallback."""

    name: str
    utterances: tuple[str, ...] = ()
    qid: str = ""  # the item behind a QID intent
    parent_signature: str = ""  # "AMAZON.FallbackIntent" for the fallback

    @property
    def has_slot(self) -> bool:
        return self.name == QNA_INTENT


@dataclass(frozen=True)
class LocaleDefinition:
    """Everything Lex needs for one locale."""

    locale_id: str
    voice_id: str
    voice_engine: str
    slot_values: tuple[str, ...]
    intents: tuple[IntentDefinition, ...]
    nlu_confidence_threshold: float = 0.40


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
        } for locale in self.locales]}


def clean_utterance(text: str) -> str:
    """``text`` as a Lex sample utterance: punctuation Lex rejects removed, spaces collapsed.

    Example:
        >>> clean_utterance("  What's the  Echo Show? (2nd gen)! ")
        "What's the Echo Show 2nd gen"
    """
    cleaned = _SPACES.sub(" ", _NOT_ALLOWED.sub(" ", text)).strip(" .-")
    return cleaned[:MAX_UTTERANCE_CHARS].strip()


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


def build_definition(items: Iterable[Item], locales: Sequence[str] = DEFAULT_LOCALES
                     ) -> BotDefinition:
    """The bot for ``items`` in ``locales``; raises :class:`BotDefinitionError` when utterances
    clash across intents, a QID intent name is invalid, or there are too many questions."""
    locales = parse_locales(locales)
    slot_values: dict[str, str] = {}  # lower-cased -> first spelling
    qid_intents: list[IntentDefinition] = []
    owners: dict[str, list[str]] = {}  # lower-cased utterance -> intents using it
    problems: list[str] = []
    for item in items:
        cleaned = [c for c in (clean_utterance(q) for q in item.questions) if c]
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
        utterances = tuple(dict.fromkeys(cleaned))
        if not utterances:
            problems.append(f'qid "{item.qid}" has enableQidIntent but no question Lex accepts')
            continue
        for utterance in {u.lower() for u in utterances}:
            owners.setdefault(utterance, []).append(name)
        qid_intents.append(IntentDefinition(name, utterances, qid=item.qid))
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
    return BotDefinition(tuple(
        LocaleDefinition(locale, *VOICES[locale], slot_values=values, intents=intents)
        for locale in locales))
