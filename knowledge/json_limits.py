"""Limits checked on JSON text *before* it is parsed, so no input can exhaust memory or the stack.

One set of limits serves every way JSON comes in: import files (JSON Lines lines, items of an
export), API request bodies, and JSON held in Lex session attributes. The nesting depth of a
text is measured without parsing it: strings are blanked out, then the brackets are counted
(a vectorised running sum, a few milliseconds per megabyte).

Example:
    >>> nesting_depth('{"q": ["[not a bracket]"], "r": {"buttons": [{}]}}')
    4
    >>> check_nesting("[" * 100, what="the body")
    Traceback (most recent call last):
    ...
    knowledge.json_limits.JsonLimitError: the body is nested 100 levels deep; the limit is 64
"""

from __future__ import annotations

import re

#: Deepest nesting accepted anywhere. QnABot items nest 4 levels (``r.buttons[0].text``);
#: parsers fail (or take memory in proportion to depth squared) far deeper.
MAX_JSON_DEPTH = 64

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_OPENERS = (ord("["), ord("{"))
_CHUNK = 1 << 20


class JsonLimitError(ValueError):
    """JSON text over a limit; the message says what, how much, and the limit."""


def nesting_depth(text: str | bytes) -> int:
    """How deeply ``text``'s arrays and objects nest (0 for a scalar), brackets inside strings
    not counted. ``text`` need not be valid JSON."""
    import numpy as np  # here: the Lex handler imports this module, numpy loads on first use

    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    if not brackets:
        return 0
    deepest = depth = 0
    for start in range(0, len(brackets), _CHUNK):  # in chunks: a few MB at most, whatever size
        codes = np.frombuffer(brackets, dtype=np.uint8, count=min(_CHUNK, len(brackets) - start),
                              offset=start)
        steps = ((codes == _OPENERS[0]) | (codes == _OPENERS[1])).view(np.int8) * 2 - 1
        running = np.cumsum(steps, dtype=np.int32) + depth
        deepest, depth = max(deepest, int(running.max())), int(running[-1])
    return deepest


def check_nesting(text: str | bytes, *, what: str, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise :class:`JsonLimitError` naming ``what`` when ``text`` nests deeper than ``limit``."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if data.count(b"[") + data.count(b"{") <= limit:
        return  # too few brackets to nest too deep: skip the measuring
    depth = nesting_depth(data)
    if depth > limit:
        raise JsonLimitError(f"{what} is nested {depth} levels deep; the limit is {limit}")
