"""Client filters matched as QnABot matches them.

QnABot stores an item's ``clientFilterValues`` as free text in OpenSearch, so the standard
analyzer splits it into lowercase words (on spaces, commas, hyphens and other punctuation), and
the client's ``QNAClientFilter`` session attribute is compared with each word, ignoring case.
An item listing ``"Engineering Sci"`` is therefore shown to a client sending ``engineering`` or
``SCI``; a client value of several words matches nothing, as in QnABot.

Example:
    >>> filter_terms("Engineering Sci, staff-only")
    ('engineering', 'sci', 'staff', 'only')
    >>> client_term("  Engineering ")
    'engineering'
    >>> allows(("engineering", "sci"), "SCI"), allows((), None), allows(("web",), None)
    (True, True, False)
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A word as the standard tokenizer sees it: letters, digits and underscores, joined by an
# apostrophe or a dot between two word characters ("don't", "v1.2" stay whole).
_WORD = re.compile(r"\w+(?:['.]\w+)*")


def filter_terms(raw: str | None) -> tuple[str, ...]:
    """The lowercase words of an item's ``clientFilterValues``, each once, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(raw or ""):
        seen.setdefault(word.casefold(), None)
    return tuple(seen)


def client_term(value: object) -> str | None:
    """The client's filter value ready to compare, or None when it sent none."""
    if not isinstance(value, str):
        return None
    return value.strip().casefold() or None


def allows(terms: Iterable[str], client: str | None) -> bool:
    """Whether an item with these filter words is shown to a client sending ``client``."""
    terms = tuple(terms)
    value = client_term(client)
    return not terms or (value is not None and value in terms)
