"""Splitting text into sentences (for passage classes and extractive answers).

A sentence ends at ``.``, ``!`` or ``?`` (optionally followed by a closing quote or bracket)
before whitespace and an upper-case letter, digit or opening quote, except after a common
abbreviation ("Dr.", "e.g.", "St.") or a single initial. Markdown list items and line breaks
also end a sentence.

Example:
    >>> split_sentences("Fares rose in 2020. Dr. Lee said so! Why?")
    ['Fares rose in 2020.', 'Dr. Lee said so!', 'Why?']
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st ave blvd rd jr sr prof inc ltd co corp no vs etc e.g i.e a.m p.m approx "
    "dept est min max mt ft jan feb mar apr jun jul aug sep sept oct nov dec".split())
_BOUNDARY = re.compile(r"""(?<=[.!?])(["')\]]?)\s+(?=["'(\[]?[A-Z0-9])""")
_LINE_BREAK = re.compile(r"\s*\n\s*(?:[-*+]\s+|\d+[.)]\s+)?")


def _ends_with_abbreviation(text: str) -> bool:
    last = text.rsplit(None, 1)[-1].rstrip(".").lower() if text.strip() else ""
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, in order, each stripped; empty text gives ``[]``."""
    sentences: list[str] = []
    for block in _LINE_BREAK.split(text or ""):
        start = 0
        pending = ""
        for boundary in _BOUNDARY.finditer(block):
            piece = block[start:boundary.end(1)].strip()
            start = boundary.end()
            pending = f"{pending} {piece}".strip() if pending else piece
            if not _ends_with_abbreviation(pending):
                sentences.append(pending)
                pending = ""
        rest = block[start:].strip()
        pending = f"{pending} {rest}".strip() if pending else rest
        if pending:
            sentences.append(pending)
    return sentences
