"""Refusing questions that carry personal information (QnABot's ``PII_REJECTION_*`` settings).

With ``PII_REJECTION_ENABLED``, each question is checked with Amazon Comprehend
(``detect_pii_entities``) before anything else happens; a question holding an entity of a type in
``PII_REJECTION_ENTITY_TYPES`` is not searched, not sent to an LLM, not kept in the history and
not logged: the bot answers with the item whose questions include ``PII_REJECTION_QUESTION``,
or with :data:`DEFAULT_REJECTION`. If Comprehend cannot be reached the turn goes on (and says
so in its log record): the check protects the content, it must not take the bot down.

Example:
    >>> detector = ComprehendPiiDetector(client=stubbed_comprehend)  # doctest: +SKIP
    >>> detector.detect("My SSN is 123-45-6789", "en")  # doctest: +SKIP
    {'SSN'}
"""

from __future__ import annotations

from typing import Any, Protocol

from knowledge.aws import aws_client

#: Lowest Comprehend confidence that counts as a finding.
MIN_SCORE = 0.5
#: Comprehend's limit for one ``detect_pii_entities`` text, in bytes of UTF-8.
MAX_TEXT_BYTES = 100_000
DEFAULT_REJECTION = ("For your privacy, please don't share personal information such as "
                     "addresses, phone numbers or account numbers here. Please ask again "
                     "without it.")
#: Languages Comprehend's PII detection supports; others are checked as English.
SUPPORTED_LANGUAGES = {"en", "es"}


class PiiError(RuntimeError):
    """The PII detector could not check the text."""


class PiiDetector(Protocol):
    """Port: which kinds of personal information a text holds."""

    def detect(self, text: str, language: str) -> set[str]:
        """Entity types found (``SSN``, ``EMAIL``, ...); raises :class:`PiiError`."""
        ...


class ComprehendPiiDetector:
    """Amazon Comprehend ``detect_pii_entities``."""

    def __init__(self, client: Any = None):
        self._client = client

    def detect(self, text: str, language: str) -> set[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        if self._client is None:
            self._client = aws_client("comprehend", read_timeout=3, max_attempts=2)
        language = language if language in SUPPORTED_LANGUAGES else "en"
        clipped = text.encode("utf-8")[:MAX_TEXT_BYTES].decode("utf-8", "ignore")
        try:
            response = self._client.detect_pii_entities(Text=clipped, LanguageCode=language)
        except (ClientError, BotoCoreError) as exc:
            raise PiiError(f"Comprehend could not check the question: {exc}") from exc
        return {entity["Type"] for entity in response.get("Entities") or ()
                if entity.get("Score", 0) >= MIN_SCORE and entity.get("Type")}
