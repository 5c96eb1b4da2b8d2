""""Did you mean …?": the candidates a person can pick when no item answers alone.

When the top candidate holds too little of the confidence to answer, the right item is still
among the first few candidates most of the time (the demo's dev set: for 68 of the 92
answerable turns that get no answer, it is one of the three most confident with at least
10%). Offering those as buttons turns an "I don't know" into one tap, without the wrong
answers a lower threshold would give. :func:`suggest` picks them from a turn's ranked hits,
so the fulfillment pipeline and the evaluation replay offer the very same ones.

Each suggestion says what its button shows and what it sends back. A QnA item sends one of
its own questions that no other candidate stores (a generic "How much does it cost?" stored
in several topics would not come back to the same item), so the next turn matches it
verbatim; a passage, or an item without such a question within Lex's 50 characters, sends
``QID::<qid>``, which answers that item without searching.

Example:
    >>> from knowledge.items import Item
    >>> from knowledge.store import SearchField
    >>> from knowledge.matching import Hit
    >>> item = Item({"qid": "Fares.Cash", "type": "qna", "q": ["Can I pay with cash?"],
    ...              "a": "Yes, with exact change."})
    >>> hit = Hit(item, SearchField.QUESTIONS, 0.6, 0.6, 0.3, 0.0, "Can I pay with cash?",
    ...           0.9, confidence=0.4)
    >>> [(s.label, s.value) for s in suggest([hit], limit=3, min_confidence=0.1)]
    [('Can I pay with cash?', 'Can I pay with cash?')]
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from knowledge.items import QID_PREFIX
from knowledge.matching import Hit, MatchParams, normalized
from knowledge.sentences import split_sentences

#: Amazon Lex V2 limits: a button's value (what it sends) and text (what it shows).
MAX_VALUE_CHARS = 50
MAX_LABEL_CHARS = 50


@dataclass(frozen=True)
class Suggestion:
    """One "did you mean" button: the item, what the button shows and what it sends."""

    qid: str
    label: str
    value: str
    confidence: float


def _clip(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _passage_label(hit: Hit) -> str:
    """A passage's name: its ``refMarkdown`` link text, its card title, or its first sentence."""
    item = hit.item
    if item.ref_link:
        return item.ref_link[0]
    if item.card is not None and item.card.title:
        return item.card.title
    sentences = split_sentences(item.passage)
    return sentences[0] if sentences else item.qid


def _qna_button(hit: Hit, shared: Collection[str]) -> tuple[str, str]:
    """(label, value) for a QnA item: the question the turn matched, else another of its
    questions, that no other candidate stores and that fits a button's value."""
    questions = list(hit.item.questions)
    if hit.matched_text in questions:  # the store's best question for this turn first
        questions.remove(hit.matched_text)
        questions.insert(0, hit.matched_text)
    for question in questions:
        if normalized(question) not in shared and len(question.strip()) <= MAX_VALUE_CHARS:
            return question.strip(), question.strip()
    return questions[0] if questions else hit.item.qid, QID_PREFIX + hit.item.qid


def suggest(hits: Sequence[Hit], *, limit: int, min_confidence: float,
            exclude_qids: Collection[str] = ()) -> list[Suggestion]:
    """Up to ``limit`` distinct items among ``hits``, most confident first, each holding at
    least ``min_confidence`` of the turn's confidence; none in keyword mode (no confidence).

    ``exclude_qids``: items never offered (the ``no_hits`` and ``error_msg`` items).
    """
    if limit <= 0:
        return []
    ranked = sorted((h for h in hits if h.confidence is not None
                     and h.confidence >= min_confidence and h.item.qid not in exclude_qids),
                    key=lambda h: (-h.confidence, h.item.qid))
    chosen: list[Hit] = []
    for hit in ranked:
        if all(hit.item.qid != other.item.qid for other in chosen):
            chosen.append(hit)
        if len(chosen) == limit:
            break
    suggestions = []
    for hit in chosen:
        if hit.item.kind == "qna":
            others = {normalized(q) for h in hits if h.item.qid != hit.item.qid
                      for q in h.item.questions}
            label, value = _qna_button(hit, others)
        else:
            label, value = _passage_label(hit), QID_PREFIX + hit.item.qid
        if len(value) > MAX_VALUE_CHARS:  # a qid too long to send back
            continue
        suggestions.append(Suggestion(hit.item.qid, label, value,
                                      round(float(hit.confidence or 0.0), 4)))
    return _told_apart(suggestions, {hit.item.qid: hit.item.topic for hit in chosen})


def _told_apart(suggestions: list[Suggestion], topics: dict[str, str]) -> list[Suggestion]:
    """Labels within Lex's length; two that would read the same ("How much does it cost?"
    stored in two topics) name their item's topic (or qid) after the question."""
    counts: dict[str, int] = {}
    for suggestion in suggestions:
        counts[normalized(suggestion.label)] = counts.get(normalized(suggestion.label), 0) + 1
    told = []
    for s in suggestions:
        label = s.label
        if counts[normalized(label)] > 1:
            tag = f" ({topics.get(s.qid) or s.qid})"
            label = _clip(label, MAX_LABEL_CHARS - len(tag)) + tag if len(tag) < 30 else label
        told.append(Suggestion(s.qid, _clip(label), s.value, s.confidence))
    return told


def suggestions_for(hits: Sequence[Hit], params: MatchParams) -> list[Suggestion]:
    """:func:`suggest` as the settings behind ``params`` ask (``NO_HITS_SUGGESTIONS``,
    ``NO_HITS_SUGGESTION_MIN_CONFIDENCE``), never offering the ``no_hits`` or ``error_msg``
    item."""
    special = {h.item.qid for h in hits
               if params.special_questions & {normalized(q) for q in h.item.questions}}
    return suggest(hits, limit=params.suggestions,
                   min_confidence=params.suggestion_confidence, exclude_qids=special)
