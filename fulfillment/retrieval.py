"""The ``Retriever`` port: passages from outside the knowledge base (Kendra, Bedrock KB).

Example:
    >>> RetrievedPassage("Lex is a bot service.", title="FAQ", url="https://x").citation()
    Citation(title='FAQ', url='https://x')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fulfillment.model import Citation
from knowledge.settings import Settings


class RetrievalError(RuntimeError):
    """The retrieval service failed; the message names the service and the cause."""


@dataclass(frozen=True)
class RetrievedPassage:
    """One passage found by a retriever, with its title and link for citations."""

    text: str
    title: str = ""
    url: str = ""
    score: float | None = None
    confidence: str = ""

    def citation(self) -> Citation:
        return Citation(self.title or self.url or "Source", self.url)


class Retriever(Protocol):
    """Port for a passage search service."""

    @property
    def source(self) -> str:
        """The answer source it feeds: ``kendra`` or ``knowledge_base``."""
        ...

    def configured(self, settings: Settings) -> bool:
        """True when the settings name something to search (an index, a knowledge base)."""
        ...

    def retrieve(self, query: str, settings: Settings) -> list[RetrievedPassage]:
        """The best passages for ``query``, best first; raises :class:`RetrievalError`."""
        ...
