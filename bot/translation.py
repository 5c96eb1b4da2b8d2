"""Utterances for the bot's other languages: the knowledge base's questions, translated.

QnABot trains each Lex locale of ``LEXV2_BOT_LOCALE_IDS`` with its questions translated by
Amazon Translate, so a caller speaking Spanish to the ``es_US`` locale is recognised. A
knowledge base has thousands of questions; they are sent in batches of lines (Translate keeps
line breaks), a few calls per locale rather than one per question. A batch whose reply does not
have one line per question is translated line by line instead.

Example:
    >>> translate = AmazonUtteranceTranslator(client=stubbed_translate)  # doctest: +SKIP
    >>> translate(["Where is the ferry?"], "en", "es")  # doctest: +SKIP
    ['¿Dónde está el ferry?']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

#: ``translate(texts, source, target)`` -> the texts translated, one for one.
UtteranceTranslator = Callable[[Sequence[str], str, str], list[str]]

#: Amazon Translate's limit is 10,000 bytes of UTF-8 per request; stay below it.
MAX_BATCH_BYTES = 9_000


def batches(texts: Sequence[str], limit: int = MAX_BATCH_BYTES) -> list[list[str]]:
    """``texts`` cut into runs whose lines, joined, stay within ``limit`` bytes.

    >>> batches(["a" * 6, "b" * 6, "c"], limit=10)
    [['aaaaaa'], ['bbbbbb', 'c']]
    """
    found: list[list[str]] = []
    current: list[str] = []
    size = 0
    for text in texts:
        line = text.replace("\n", " ")
        cost = len(line.encode("utf-8")) + 1
        if current and size + cost > limit:
            found.append(current)
            current, size = [], 0
        current.append(line)
        size += cost
    if current:
        found.append(current)
    return found


class AmazonUtteranceTranslator:
    """Amazon Translate ``TranslateText``, batched by lines."""

    def __init__(self, client: Any = None):
        self._client = client

    def _translate(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("translate")
        return self._client

    def _one(self, text: str, source: str, target: str) -> str:
        reply = self._translate().translate_text(Text=text, SourceLanguageCode=source,
                                                 TargetLanguageCode=target)
        return str(reply["TranslatedText"])

    def __call__(self, texts: Sequence[str], source: str, target: str) -> list[str]:
        translated: list[str] = []
        for batch in batches(texts):
            lines = self._one("\n".join(batch), source, target).split("\n")
            if len(lines) != len(batch):  # Translate merged or split a line: go one by one
                lines = [self._one(text, source, target) for text in batch]
            translated.extend(line.strip() for line in lines)
        return translated
