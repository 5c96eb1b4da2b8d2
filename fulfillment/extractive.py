"""Extractive passage answers: the sentences of a passage that answer the question (no LLM).

Each sentence of the passage is scored by the cosine of its embedding with the question's
(the same embeddings model as matching; sentence vectors go through the embeddings cache, so
a passage's sentences are embedded once). The best sentence is the answer; a neighbour joins
it when the answer needs it: the sentence before when the best one leans on it ("This",
"They", "However", ...), the sentence after when it scores nearly as well or the best one is
very short. Whole sentences only, in passage order; at most :data:`VOICE_MAX_CHARS` for voice.

Example:
    >>> extract("What is the fine?", passage, embeddings).text  # doctest: +SKIP
    'The fine for riding without proof of payment is $75.'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from knowledge.embeddings.base import Embeddings, EmbeddingsError
from knowledge.sentences import split_sentences

#: A neighbour scoring within this much of the best sentence joins it.
NEIGHBOUR_MARGIN = 0.08
#: A best sentence with fewer words than this takes its next sentence too.
SHORT_SENTENCE_WORDS = 8
#: Longest extract on text channels, and on voice (spoken answers must be short).
TEXT_MAX_CHARS = 600
VOICE_MAX_CHARS = 300
#: Openings that make a sentence depend on the one before it.
_LEANS_BACK = re.compile(
    r"^(this|that|these|those|it|its|they|their|he|she|his|her|there|such|also|however|but|"
    r"so|then|after that|in that case|otherwise|instead|as a result)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Extract:
    """The chosen sentences (passage order) and their best cosine with the question."""

    sentences: tuple[str, ...]
    score: float

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def extract(question: str, passage: str, embeddings: Embeddings | None, *,
            voice: bool = False) -> Extract | None:
    """The sentences of ``passage`` that answer ``question``; None when the passage has no
    sentence or the embeddings fail (the caller then answers the whole passage)."""
    sentences = split_sentences(passage)
    if not sentences or embeddings is None:
        return None
    try:
        vectors = np.asarray(embeddings.embed([question, *sentences], "q"))
    except EmbeddingsError:
        return None
    scores = vectors[1:] @ vectors[0]
    return choose(sentences, scores, max_chars=VOICE_MAX_CHARS if voice else TEXT_MAX_CHARS)


def choose(sentences: list[str], scores: np.ndarray, *, max_chars: int) -> Extract:
    """The best sentence with the neighbours it needs, within ``max_chars`` when possible."""
    best = int(np.argmax(scores))
    chosen = {best}
    if best > 0 and _LEANS_BACK.match(sentences[best]):
        chosen.add(best - 1)
    after = best + 1
    if after < len(sentences) and (
            len(sentences[best].split()) < SHORT_SENTENCE_WORDS
            or scores[after] >= scores[best] - NEIGHBOUR_MARGIN):
        chosen.add(after)
    ordered = sorted(chosen)
    while len(ordered) > 1 and len(" ".join(sentences[i] for i in ordered)) > max_chars:
        # drop the neighbour farther from the question, keeping the best sentence
        ordered.remove(min((i for i in ordered if i != best), key=lambda i: scores[i]))
    return Extract(tuple(sentences[i] for i in ordered), float(scores[best]))
