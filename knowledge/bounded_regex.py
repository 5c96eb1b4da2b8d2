"""Regular expressions from settings, run with a time limit so that no text can hang a turn.

Regex settings (``REDACTING_REGEX``, ``LLM_QA_NO_HITS_REGEX``) are written by admins but run
on what users type and what LLMs return. A pattern such as ``(a|a)+$`` backtracks for ever on
a few dozen characters, so every match runs in the ``regex`` package (compatible with ``re``)
with a timeout of :data:`REGEX_TIME_LIMIT_SECONDS`.

Example:
    >>> pattern = compile_bounded(r"\\b\\d{4}\\b")
    >>> pattern.sub("XXXXXX", "card ending 4111")
    'card ending XXXXXX'
    >>> compile_bounded(r"(a|a)+$").search("a" * 40 + "!") is None  # cut off, not hung
    True
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: Longest one match may run (the regex package checks it as it backtracks).
REGEX_TIME_LIMIT_SECONDS = 0.05


class RegexTimeoutError(TimeoutError):
    """A setting's pattern ran past its time limit on some text."""


@dataclass(frozen=True)
class BoundedPattern:
    """A compiled regex setting whose every match stops after the time limit."""

    compiled: Any  # a regex.Pattern

    @property
    def pattern(self) -> str:
        """The pattern's text."""
        return self.compiled.pattern

    def search(self, text: str) -> Any | None:
        """The first match, or None: also when the time limit cut the search short (logged),
        so a slow pattern never blocks the answer it was checking."""
        try:
            return self.compiled.search(text, timeout=REGEX_TIME_LIMIT_SECONDS)
        except TimeoutError:
            logger.warning("regex %r ran past its %s s limit on %d characters; treated as no "
                           "match", self.pattern, REGEX_TIME_LIMIT_SECONDS, len(text))
            return None

    def sub(self, replacement: str, text: str) -> str:
        """``text`` with every match replaced; raises :class:`RegexTimeoutError` past the time
        limit (a caller redacting must then withhold the text, not pass it on)."""
        try:
            return self.compiled.sub(replacement, text, timeout=REGEX_TIME_LIMIT_SECONDS)
        except TimeoutError:
            raise RegexTimeoutError(f"regex {self.pattern!r} ran past its "
                                    f"{REGEX_TIME_LIMIT_SECONDS} s limit") from None


def compile_bounded(text: str, *, ignore_case: bool = True) -> BoundedPattern:
    """Compile ``text`` (``re`` syntax); raises ``ValueError`` naming the problem if invalid."""
    import regex  # here: only turns that use a regex setting pay for the import

    try:
        return BoundedPattern(regex.compile(text, regex.IGNORECASE if ignore_case else 0))
    except regex.error as exc:
        raise ValueError(str(exc)) from None
