"""Guardrails on the user's question and on the final answer, as QnABot applies them.

QnABot has three layers: a *preprocess* guardrail on the question (before anything else runs:
no search, no LLM call, no history), the *Bedrock LLM* guardrail passed with each Converse
call (:mod:`fulfillment.llm.bedrock`), and a *postprocess* guardrail on the final answer, for
every kind of answer, curated or generated. This module is the first and the last: the
:class:`Guard` port with two adapters.

- :class:`BedrockGuard`: Amazon Bedrock ``ApplyGuardrail`` with the configured identifier and
  version (``PREPROCESS_GUARDRAIL_*``, ``POSTPROCESS_GUARDRAIL_*``). It works with any LLM
  backend, or none.
- :class:`LocalRuleGuard`: a rule-based guard for running without a cloud. A guardrail
  identifier names a JSON file ``$QNABOT_HOME/guardrails/<identifier>.json`` written in the
  shape of Bedrock's ``CreateGuardrail`` request (denied topics, words, the managed profanity
  list, PII entities and regexes, the blocked messages), so the same definition can later
  create the real guardrail.

:class:`GuardSelector` picks the local file when there is one, else Bedrock.

Example:
    >>> guard = LocalRuleGuard.from_definition({
    ...     "blockedInputMessaging": "I can't discuss that.",
    ...     "wordPolicyConfig": {"wordsConfig": [{"text": "crypto"}]}})
    >>> guard.apply("Should I buy crypto?", source="INPUT").text
    "I can't discuss that."
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import jsonschema

from fulfillment.model import Answer

log = logging.getLogger(__name__)

Source = Literal["INPUT", "OUTPUT"]

#: Bedrock's default blocked message, which ``LLM_QA_NO_HITS_REGEX`` also recognises.
DEFAULT_BLOCKED_MESSAGE = "Sorry, the model cannot answer this question."
#: Guardrail identifiers are file names locally: letters, digits, dashes, dots, underscores.
_LOCAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class GuardrailError(Exception):
    """The guardrail could not be applied (service error, bad definition)."""


@dataclass(frozen=True)
class GuardrailVerdict:
    """What a guardrail decided about one text.

    ``intervened`` is True when the guardrail blocked or masked something; ``text`` is then
    what to say instead (the blocked message, or the text with PII masked). ``findings`` names
    what it found, for the debug record (never the matched text itself).
    """

    intervened: bool
    text: str
    blocked: bool = False
    findings: tuple[str, ...] = ()


class Guard(Protocol):
    """Applies one guardrail to one text."""

    def apply(self, text: str, *, source: Source, identifier: str,
              version: str) -> GuardrailVerdict:
        """The guardrail's verdict on ``text`` (a question for INPUT, an answer for OUTPUT)."""
        ...


# --- Amazon Bedrock ---------------------------------------------------------------------------


class BedrockGuard:
    """Amazon Bedrock ``ApplyGuardrail`` (the ``bedrock-runtime`` client, created lazily)."""

    def __init__(self, client: Any = None):
        from knowledge.aws import LazyClient

        self._client = LazyClient("bedrock-runtime", read_timeout=10, client=client)

    def _bedrock(self) -> Any:
        return self._client.get()

    def apply(self, text: str, *, source: Source, identifier: str,
              version: str) -> GuardrailVerdict:
        """Call ``ApplyGuardrail``; a service error becomes :class:`GuardrailError`."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            reply = self._bedrock().apply_guardrail(
                guardrailIdentifier=identifier, guardrailVersion=version or "DRAFT",
                source=source, content=[{"text": {"text": text}}])
        except (BotoCoreError, ClientError) as exc:
            raise GuardrailError(f"Bedrock guardrail {identifier} could not be applied: "
                                 f"{exc}") from exc
        if reply.get("action") != "GUARDRAIL_INTERVENED":
            return GuardrailVerdict(False, text)
        said = " ".join(o.get("text", "") for o in reply.get("outputs") or []).strip()
        findings = tuple(_bedrock_findings(reply.get("assessments") or []))
        blocked = any(f.endswith(":BLOCKED") for f in findings) or not findings
        return GuardrailVerdict(True, said or DEFAULT_BLOCKED_MESSAGE, blocked, findings)


def _bedrock_findings(assessments: Sequence[Mapping[str, Any]]) -> list[str]:
    """``policy:name:action`` for each finding in ``ApplyGuardrail``'s assessments."""
    found: list[str] = []
    for assessment in assessments:
        for topic in (assessment.get("topicPolicy") or {}).get("topics", []):
            found.append(f"topic:{topic.get('name')}:{topic.get('action')}")
        for flt in (assessment.get("contentPolicy") or {}).get("filters", []):
            found.append(f"content:{flt.get('type')}:{flt.get('action')}")
        words = assessment.get("wordPolicy") or {}
        for word in words.get("customWords", []):
            found.append(f"word:custom:{word.get('action')}")
        for word in words.get("managedWordLists", []):
            found.append(f"word:{word.get('type')}:{word.get('action')}")
        info = assessment.get("sensitiveInformationPolicy") or {}
        for entity in info.get("piiEntities", []):
            found.append(f"pii:{entity.get('type')}:{entity.get('action')}")
        for regex in info.get("regexes", []):
            found.append(f"regex:{regex.get('name')}:{regex.get('action')}")
    return found


# --- local rules ------------------------------------------------------------------------------

_ACTION = {"type": "string", "enum": ["BLOCK", "ANONYMIZE", "NONE"]}
#: The part of Bedrock's ``CreateGuardrail`` request the local guard understands. Other
#: fields (content filters, grounding) are allowed and ignored: they need a model.
DEFINITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "blockedInputMessaging": {"type": "string", "minLength": 1},
        "blockedOutputsMessaging": {"type": "string", "minLength": 1},
        "topicPolicyConfig": {"type": "object", "properties": {"topicsConfig": {
            "type": "array", "items": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "minLength": 1},
                "definition": {"type": "string"},
                "examples": {"type": "array", "items": {"type": "string"}},
                "type": {"const": "DENY"}}}}}},
        "wordPolicyConfig": {"type": "object", "properties": {
            "wordsConfig": {"type": "array", "items": {
                "type": "object", "required": ["text"],
                "properties": {"text": {"type": "string", "minLength": 1}}}},
            "managedWordListsConfig": {"type": "array", "items": {
                "type": "object", "required": ["type"],
                "properties": {"type": {"const": "PROFANITY"}}}}}},
        "sensitiveInformationPolicyConfig": {"type": "object", "properties": {
            "piiEntitiesConfig": {"type": "array", "items": {
                "type": "object", "required": ["type", "action"],
                "properties": {"type": {"type": "string"}, "action": _ACTION}}},
            "regexesConfig": {"type": "array", "items": {
                "type": "object", "required": ["name", "pattern", "action"],
                "properties": {"name": {"type": "string"}, "pattern": {"type": "string"},
                               "action": _ACTION}}}}},
    },
}

_OCTET = r"(?:25[0-5]|2[0-4]\d|1?\d?\d)"
#: PII entity types the local guard recognises, by Bedrock's names.
PII_PATTERNS: dict[str, re.Pattern[str]] = {
    "EMAIL": re.compile(r"\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+\b"),
    "PHONE": re.compile(r"(?<![\w+])(?:\+?\d{1,3}[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]?\d{4}"
                        r"(?!\w)"),
    "US_SOCIAL_SECURITY_NUMBER": re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
    "CREDIT_DEBIT_CARD_NUMBER": re.compile(r"\b(?:\d[ -]?){12,18}\d\b"),
    "IP_ADDRESS": re.compile(rf"\b(?:{_OCTET}\.){{3}}{_OCTET}\b"),
}
_STOPWORDS = frozenset(
    "a an and are as at be can could do does for from how i in is it me my of on or should "
    "the to what when where which who why will with would you your".split())


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.casefold())


def _content_words(text: str) -> set[str]:
    return {w for w in _words(text) if w not in _STOPWORDS}


def _luhn_ok(digits: str) -> bool:
    numbers = [int(d) for d in digits if d.isdigit()]
    total = 0
    for position, number in enumerate(reversed(numbers)):
        if position % 2:
            number = number * 2 - 9 if number > 4 else number * 2
        total += number
    return total % 10 == 0


@dataclass(frozen=True)
class _Rule:
    """One thing the local guard looks for: ``find`` returns the spans it matches."""

    name: str
    action: str  # BLOCK or ANONYMIZE
    find: Callable[[str], list[tuple[int, int]]]


def _phrase_finder(phrase: str) -> Callable[[str], list[tuple[int, int]]]:
    pattern = re.compile(r"(?<![^\W_])" + r"\W+".join(map(re.escape, _words(phrase)))
                         + r"(?![^\W_])", re.IGNORECASE)
    return lambda text: [m.span() for m in pattern.finditer(text)]


def _topic_finder(name: str, examples: Sequence[str]) -> Callable[[str], list[tuple[int, int]]]:
    """A denied topic matches when the text names it, or holds every content word of one of
    its examples (so "Should I buy bitcoin now?" matches the example "Should I buy bitcoin")."""
    by_name = _phrase_finder(name)
    example_words = [words for words in map(_content_words, examples) if words]

    def find(text: str) -> list[tuple[int, int]]:
        spans = by_name(text)
        if not spans and any(words <= _content_words(text) for words in example_words):
            spans = [(0, len(text))]
        return spans
    return find


def _pattern_finder(pattern: re.Pattern[str], check: Callable[[str], bool] | None = None):
    return lambda text: [m.span() for m in pattern.finditer(text)
                         if check is None or check(m.group())]


def _profanity_finder() -> Callable[[str], list[tuple[int, int]]]:
    from better_profanity import profanity

    profanity.load_censor_words()
    words = frozenset(str(w).casefold() for w in profanity.CENSOR_WORDSET)

    def find(text: str) -> list[tuple[int, int]]:
        return [m.span() for m in re.finditer(r"[^\W_]+", text) if m.group().casefold() in words]
    return find


@dataclass
class LocalRuleGuard:
    """A guardrail from a definition in ``CreateGuardrail``'s shape, applied with rules.

    Denied topics and words block; PII entities and regexes block or, with ``ANONYMIZE``,
    are masked as Bedrock masks them (``{EMAIL}``, ``{NAME}`` of the regex).
    """

    rules: list[_Rule] = field(default_factory=list)
    blocked_input: str = DEFAULT_BLOCKED_MESSAGE
    blocked_output: str = DEFAULT_BLOCKED_MESSAGE

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any], *, where: str = "the guardrail"
                        ) -> LocalRuleGuard:
        """Build the guard; a definition that does not fit raises :class:`GuardrailError`."""
        try:
            jsonschema.validate(definition, DEFINITION_SCHEMA)
        except jsonschema.ValidationError as exc:
            at = "/".join(str(p) for p in exc.absolute_path) or "the top level"
            raise GuardrailError(f"{where}: {at}: {exc.message}") from None
        rules: list[_Rule] = []
        for topic in (definition.get("topicPolicyConfig") or {}).get("topicsConfig", []):
            rules.append(_Rule(f"topic:{topic['name']}", "BLOCK",
                               _topic_finder(topic["name"], topic.get("examples") or [])))
        words = definition.get("wordPolicyConfig") or {}
        for word in words.get("wordsConfig", []):
            rules.append(_Rule("word:custom", "BLOCK", _phrase_finder(word["text"])))
        if words.get("managedWordListsConfig"):
            rules.append(_Rule("word:PROFANITY", "BLOCK", _profanity_finder()))
        info = definition.get("sensitiveInformationPolicyConfig") or {}
        for entity in info.get("piiEntitiesConfig", []):
            kind = entity["type"]
            if kind not in PII_PATTERNS:
                raise GuardrailError(
                    f"{where}: PII entity type {kind} is not recognised locally; use one of "
                    f"{', '.join(sorted(PII_PATTERNS))}, or a regex in regexesConfig")
            check = _luhn_ok if kind == "CREDIT_DEBIT_CARD_NUMBER" else None
            if entity["action"] != "NONE":
                rules.append(_Rule(f"pii:{kind}", entity["action"],
                                   _pattern_finder(PII_PATTERNS[kind], check)))
        for regex in info.get("regexesConfig", []):
            try:
                pattern = re.compile(regex["pattern"])
            except re.error as exc:
                raise GuardrailError(f"{where}: regex {regex['name']}: {exc}") from None
            if regex["action"] != "NONE":
                rules.append(_Rule(f"regex:{regex['name']}", regex["action"],
                                   _pattern_finder(pattern)))
        return cls(rules,
                   definition.get("blockedInputMessaging") or DEFAULT_BLOCKED_MESSAGE,
                   definition.get("blockedOutputsMessaging") or DEFAULT_BLOCKED_MESSAGE)

    def apply(self, text: str, *, source: Source = "INPUT", identifier: str = "",
              version: str = "") -> GuardrailVerdict:
        """Block on the first blocking finding; otherwise mask what is to be anonymized."""
        blocked_message = self.blocked_input if source == "INPUT" else self.blocked_output
        findings: list[str] = []
        masks: list[tuple[int, int, str]] = []
        for rule in self.rules:
            spans = rule.find(text)
            if not spans:
                continue
            if rule.action == "BLOCK":
                return GuardrailVerdict(True, blocked_message, True, (f"{rule.name}:BLOCKED",))
            findings.append(f"{rule.name}:ANONYMIZED")
            label = "{" + rule.name.split(":", 1)[1] + "}"
            masks.extend((start, end, label) for start, end in spans)
        if not masks:
            return GuardrailVerdict(False, text)
        return GuardrailVerdict(True, _mask(text, masks), False, tuple(findings))


def _mask(text: str, masks: list[tuple[int, int, str]]) -> str:
    """Replace each span with its label; overlapping spans are merged into the first."""
    out, at = [], 0
    for start, end, label in sorted(masks):
        if start < at:
            continue
        out.append(text[at:start])
        out.append(label)
        at = end
    out.append(text[at:])
    return "".join(out)


# --- choosing the adapter ---------------------------------------------------------------------


class GuardSelector:
    """The local definition ``<folder>/<identifier>.json`` when it exists, else Bedrock.

    Definitions are re-read when their file changes, so an admin's edit applies at once.
    """

    def __init__(self, folder: Path | None, bedrock: Guard | None = None):
        self.folder = folder
        self._bedrock = bedrock
        self._cache: dict[Path, tuple[float, LocalRuleGuard]] = {}

    def _local(self, identifier: str) -> LocalRuleGuard | None:
        if self.folder is None or not _LOCAL_ID.match(identifier):
            return None
        path = self.folder / f"{identifier}.json"
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        cached = self._cache.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
        try:
            definition = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GuardrailError(f"guardrail file {path.name} cannot be read: {exc}") from None
        guard = LocalRuleGuard.from_definition(definition, where=f"guardrail file {path.name}")
        self._cache[path] = (mtime, guard)
        return guard

    def apply(self, text: str, *, source: Source, identifier: str,
              version: str) -> GuardrailVerdict:
        """Apply the local definition, or Bedrock's guardrail of that identifier."""
        local = self._local(identifier)
        if local is not None:
            return local.apply(text, source=source)
        if self._bedrock is None:
            self._bedrock = BedrockGuard()
        return self._bedrock.apply(text, source=source, identifier=identifier, version=version)


# --- the two pipeline steps -------------------------------------------------------------------

Step = Literal["PREPROCESS", "POSTPROCESS"]


def configured(settings: Any, step: Step) -> tuple[str, str] | None:
    """``(identifier, version)`` of the step's guardrail, or None when it has none.

    As in QnABot, an identifier without a version applies no guardrail.
    """
    identifier = str(settings.get(f"{step}_GUARDRAIL_IDENTIFIER") or "").strip()
    version = str(settings.get(f"{step}_GUARDRAIL_VERSION") or "").strip()
    return (identifier, version) if identifier and version else None


def screen(guard: Guard | None, text: str, settings: Any, step: Step) -> GuardrailVerdict | None:
    """The verdict of the step's guardrail on ``text``; None when the step has no guardrail.

    Raises :class:`GuardrailError` when it is configured but cannot be applied: a guardrail
    that cannot run does not let the text through.
    """
    wanted = configured(settings, step)
    if wanted is None or not text.strip():
        return None
    if guard is None:
        raise GuardrailError(f"{step}_GUARDRAIL_IDENTIFIER is set but no guard is configured")
    identifier, version = wanted
    return guard.apply(text, source="INPUT" if step == "PREPROCESS" else "OUTPUT",
                       identifier=identifier, version=version)


def _checked(state: Any, text: str, step: Step, guard: Guard | None) -> GuardrailVerdict | None:
    """The step's verdict on ``text`` when it intervened (None otherwise), with its time and
    findings in the turn's debug record."""
    started = time.perf_counter()
    verdict = screen(guard, text, state.settings, step)
    if verdict is None:
        return None
    state.debug.timings_ms[f"guardrail.{step.lower()}"] = (time.perf_counter() - started) * 1000
    if not verdict.intervened:
        return None
    prefix = "pre" if step == "PREPROCESS" else "post"
    state.debug.guardrail.extend(f"{prefix}:{finding}" for finding in verdict.findings)
    return verdict


def guard_question(state: Any, guard: Guard | None) -> Answer | None:
    """The preprocess step of a turn: the blocked message, or None to go on (with the question
    masked when the guardrail anonymized something). A guardrail that cannot run raises."""
    verdict = _checked(state, state.question, "PREPROCESS", guard)
    if verdict is None:
        return None
    if not verdict.blocked:
        state.question = verdict.text
        return None
    state.pii_rejected = True  # blocked input is neither kept in the history nor logged
    return Answer(text=verdict.text, source="guardrail")


def guard_answer(state: Any, answer: Answer, guard: Guard | None) -> Answer:
    """The postprocess step of a turn: the final answer blocked, masked, or as it was. A
    guardrail that cannot run answers with ``ERRORMESSAGE`` rather than unchecked; a
    guardrail's own blocked message is not checked again."""
    if answer.source == "guardrail":
        return answer
    from fulfillment.render import markdown_to_text

    try:
        verdict = _checked(state, answer.text or markdown_to_text(answer.markdown),
                           "POSTPROCESS", guard)
    except GuardrailError as exc:
        state.debug.degraded.append(str(exc))
        log.error("postprocess guardrail failed, answering with the error message: %s", exc)
        return Answer(text=state.settings.get("ERRORMESSAGE"), source="error")
    if verdict is None:
        return answer
    if verdict.blocked:
        state.item = None
        return Answer(text=verdict.text, source="guardrail")
    return replace(answer, text=verdict.text, markdown="", ssml="")
