"""Does a question lean on the conversation before it?

A cheap test, used twice: the fulfillment handler skips the LLM rewrite for questions that
stand alone, and matching without an LLM retries a follow-up with the previous question as
context. It looks for words that point back ("it", "they", "that one", "there") and for
openings that continue a thought ("and ...", "what about ...").

Example:
    >>> needs_context("How much does it cost?")
    True
    >>> needs_context("How much does a monthly pass cost?")
    False
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)

#: Words that refer back to something said before.
REFERRING_WORDS = frozenset(
    """it it's its itself they them their theirs themselves he him his she her hers this that
    these those there then one ones such same other another else former latter""".split()
)
#: Openings that continue the previous question.
CONTINUATIONS = ("and ", "but ", "also ", "so ", "what about", "how about", "what if",
                 "and what", "then ", "or ", "same ", "why not", "why is that", "why")
#: "this/that" followed by these words names a thing in the question itself ("this week").
_SELF_CONTAINED_AFTER_DEMONSTRATIVE = frozenset(
    "week weekend morning evening afternoon year month time day".split())


def needs_context(question: str) -> bool:
    """True when ``question`` probably cannot be understood without the previous turn."""
    text = question.strip().lower()
    if not text:
        return False
    words = _WORD.findall(text)
    if text.startswith(CONTINUATIONS) and len(words) <= 8:
        return True
    for index, word in enumerate(words):
        if word not in REFERRING_WORDS:
            continue
        following = words[index + 1] if index + 1 < len(words) else ""
        if word in ("this", "that", "these", "those") and (
                following in _SELF_CONTAINED_AFTER_DEMONSTRATIVE):
            continue
        if word == "one" and index > 0 and words[index - 1] in ("no", "any", "every", "some"):
            continue
        if word == "there" and following in ("is", "are", "a", "any"):
            continue  # "is there a ...", "are there any ..." introduce a new subject
        return True
    return False
