"""Hybrid matching: QnABot's cascade over a :class:`~knowledge.store.Store`.

A question is matched in stages, as QnABot does: against item questions; if nothing passes and
``ES_SCORE_ANSWER_FIELD`` is on, against answers; then, with ``ES_SCORE_TEXT_ITEM_PASSAGES``,
against text passages. A stage yields a hit only when its best score reaches the stage's
threshold, so an off-topic question gets no hit rather than a wrong answer. Two exceptions:
a stored question asked verbatim always gets its item; and a stage's top candidate below the
threshold still passes when it is *unambiguous*: it reaches ``MATCH_UNAMBIGUOUS_THRESHOLD``
and beats the runner-up by ``MATCH_UNAMBIGUOUS_MARGIN`` (a sparse knowledge base has clear
low-scoring matches; a dense one has near-miss items that only a high score separates).

Each candidate's score fuses the evidence (see :func:`fuse`):

* ``vector_score``: cosine similarity of the embeddings (paraphrases match);
* ``answer_score``: in the question stage, the cosine between the question and the item's
  answer, weighted by ``ANSWER_SCORE_WEIGHT`` (an answer says much about what an item is for);
* ``keyword_score``: the share of the question's content words found in the item's text
  (questions and answer, or the passage), weighted by ``HYBRID_KEYWORD_WEIGHT``, so "next
  stop" and "previous stop" are told apart;

plus ``TOPIC_BOOST`` for items of the session topic, so a follow-up such as "who made it?"
picks the item of the current topic. The keyword score is computed here, not by the store, so
the embedded and OpenSearch backends rank identically; the store's BM25 only finds candidates.

With embeddings off or failing, matching runs on keywords alone, and a candidate passes when
it covers enough of the question's words (QnABot's ``ES_MINIMUM_SHOULD_MATCH``).

Example:
    >>> matcher = Matcher(store, embeddings)  # doctest: +SKIP
    >>> matcher.search("Where did Humpty Dumpty sit?", settings).best.item.qid  # doctest: +SKIP
    '0.HumptyDumpty'
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Literal

from knowledge.embeddings.base import Embeddings, EmbeddingsError
from knowledge.followups import needs_context
from knowledge.items import SEARCHABLE_KINDS, Item
from knowledge.settings import Settings
from knowledge.store import FieldMatch, SearchField, Store

MatchMode = Literal["hybrid", "embeddings", "keywords"]

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Words that carry no topic: questions differ by content words, not by these.
STOPWORDS = frozenset(
    """a about an and any are as at be been but by can could did do does doing for from had has
    have how i if in into is it its i'm me my of on or our please should so tell than that the
    their them then there these they this those to us was we were what when where which who whom
    why will with would you your yours can't don't isn't what's where's who's how's i'd""".split()
)


def singular(word: str) -> str:
    """A plural English noun's singular, by suffix ("ferries" -> "ferry", "buses" -> "bus")."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "uses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@lru_cache(maxsize=65536)
def content_words(text: str) -> frozenset[str]:
    """Lower-cased words of ``text`` without stopwords, in singular form."""
    return frozenset(singular(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS)


def keyword_coverage(query_words: frozenset[str], text: str) -> float:
    """Share of ``query_words`` that occur in ``text`` (0.0 when the query has none)."""
    if not query_words:
        return 0.0
    return len(query_words & content_words(text)) / len(query_words)


def normalized(text: str) -> str:
    """Lower-cased words only, for comparing a question with a stored one verbatim."""
    return " ".join(_WORD.findall(text.lower()))


def item_text(item: Item) -> str:
    """All the text keyword evidence is taken from: an item's questions and answer (or passage)."""
    return " ".join((*item.questions, item.answer))


def minimum_should_match(spec: str, n_terms: int) -> float:
    """QnABot's ``ES_MINIMUM_SHOULD_MATCH`` (e.g. ``2<75%``) as a coverage threshold in [0,1].

    ``N<P%`` means: up to N terms, all must match; above N, P percent must.
    """
    spec = (spec or "").strip()
    match = re.fullmatch(r"(?:(\d+)\s*<\s*)?(-?\d+)%", spec)
    if not match or n_terms == 0:
        return 1.0
    upto, percent = match.groups()
    if upto is not None and n_terms <= int(upto):
        return 1.0
    percent = int(percent)
    return max(0.0, min(1.0, (100 + percent if percent < 0 else percent) / 100))


@dataclass(frozen=True)
class Hit:
    """One ranked candidate with the evidence behind its score."""

    item: Item
    stage: SearchField
    score: float
    vector_score: float
    keyword_score: float
    topic_boost: float
    matched_text: str
    threshold: float
    answer_score: float = 0.0
    exact: bool = False  # the question is one of the item's questions, verbatim
    verdict: str = ""  # why it passed: "exact", "threshold", "unambiguous"; "" = it did not

    @property
    def passed(self) -> bool:
        """True when this candidate may answer the question."""
        return bool(self.verdict)

    def to_json(self) -> dict:
        """The hit as plain JSON (for ``qnabot search --json`` and the designer's TEST tab)."""
        return {
            "qid": self.item.qid,
            "type": self.item.kind,
            "stage": self.stage.value,
            "score": round(self.score, 4),
            "vector_score": round(self.vector_score, 4),
            "answer_score": round(self.answer_score, 4),
            "keyword_score": round(self.keyword_score, 4),
            "topic_boost": round(self.topic_boost, 4),
            "threshold": self.threshold,
            "passed": self.passed,
            "verdict": self.verdict,
            "exact": self.exact,
            "matched": self.matched_text,
            "topic": self.item.topic,
        }


@dataclass
class SearchResult:
    """What :meth:`Matcher.search` found: ranked candidates per stage, and the answer, if any."""

    query: str
    mode: MatchMode
    candidates: list[Hit] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    degraded: str = ""  # why matching fell back to keywords, if it did
    context_used: bool = False  # matched as a follow-up, with the previous question

    @property
    def best(self) -> Hit | None:
        """The first stage's best passing candidate, in cascade order."""
        return next((hit for hit in self.candidates if hit.passed), None)

    def to_json(self) -> dict:
        best = self.best
        return {
            "query": self.query,
            "mode": self.mode,
            "best": best.to_json() if best else None,
            "candidates": [hit.to_json() for hit in self.candidates],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "degraded": self.degraded,
            "context_used": self.context_used,
        }


_STAGE_THRESHOLD = {
    SearchField.QUESTIONS: "EMBEDDINGS_SCORE_THRESHOLD",
    SearchField.ANSWERS: "EMBEDDINGS_SCORE_ANSWER_THRESHOLD",
    SearchField.PASSAGES: "EMBEDDINGS_TEXT_PASSAGE_SCORE_THRESHOLD",
}


@dataclass(frozen=True)
class MatchParams:
    """Everything that turns store evidence into a decision (read from settings once a turn,
    with :meth:`from_settings`: the settings registry holds every default)."""

    mode: MatchMode
    thresholds: tuple[tuple[SearchField, float], ...]
    keyword_weight: float
    answer_weight: float
    topic_boost: float
    unambiguous_threshold: float
    unambiguous_margin: float
    minimum_should_match: str
    stages: tuple[SearchField, ...]
    candidates: int

    @classmethod
    def from_settings(cls, settings: Settings, mode: MatchMode | None = None) -> MatchParams:
        stages = [SearchField.QUESTIONS]
        if settings.get("ES_SCORE_ANSWER_FIELD"):
            stages.append(SearchField.ANSWERS)
        if settings.get("ES_SCORE_TEXT_ITEM_PASSAGES"):
            stages.append(SearchField.PASSAGES)
        return cls(
            mode=mode or ("hybrid" if settings.get("EMBEDDINGS_ENABLE") else "keywords"),
            thresholds=tuple((f, settings.get(name)) for f, name in _STAGE_THRESHOLD.items()),
            keyword_weight=settings.get("HYBRID_KEYWORD_WEIGHT"),
            answer_weight=settings.get("ANSWER_SCORE_WEIGHT"),
            unambiguous_threshold=settings.get("MATCH_UNAMBIGUOUS_THRESHOLD"),
            unambiguous_margin=settings.get("MATCH_UNAMBIGUOUS_MARGIN"),
            topic_boost=settings.get("TOPIC_BOOST"),
            minimum_should_match=settings.get("ES_MINIMUM_SHOULD_MATCH"),
            stages=tuple(stages),
            candidates=settings.get("MATCH_CANDIDATES"),
        )

    def threshold(self, stage: SearchField, query_word_count: int) -> float:
        """The score a candidate of ``stage`` needs; in keyword mode, the word coverage."""
        if self.mode == "keywords":
            return minimum_should_match(self.minimum_should_match, query_word_count)
        return dict(self.thresholds)[stage]

    def verdict(self, score: float, lead: float | None, threshold: float, exact: bool) -> str:
        """Why the top candidate of a stage may answer ("" when it may not).

        ``lead`` is how far its evidence, without the topic boost, is ahead of the best other
        candidate's (None when there is no other): the topic breaks ties between follow-ups,
        it must not make a clear change of subject look ambiguous.
        """
        if exact:
            return "exact"
        if score >= threshold:
            return "threshold"
        if (self.mode != "keywords" and score >= self.unambiguous_threshold
                and (lead is None or lead >= self.unambiguous_margin)):
            return "unambiguous"
        return ""

    @property
    def uses_answers(self) -> bool:
        """True when the question stage also weighs answer similarity."""
        return self.mode != "keywords" and self.answer_weight > 0


def fuse(vector_score: float, answer_score: float, keyword_score: float, topic_boost: float,
         params: MatchParams) -> float:
    """The score a candidate is ranked and thresholded by."""
    if params.mode == "keywords":
        return keyword_score + topic_boost
    score = vector_score + params.answer_weight * answer_score + topic_boost
    if params.mode == "hybrid":
        score += params.keyword_weight * keyword_score
    return score


def answer_evidence(matches: list[FieldMatch]) -> tuple[dict[str, float], float]:
    """Answer cosines by qid from a vector-only ANSWERS search, and the score to assume for
    items it did not return (the lowest it did: theirs can be no higher)."""
    scores = {m.qid: m.vector_score for m in matches}
    return scores, min(scores.values(), default=0.0)


def score_stage(stage: SearchField, query: str, matches: list[FieldMatch],
                items: dict[str, Item], params: MatchParams, topic: str = "",
                answers: tuple[dict[str, float], float] | None = None) -> list[Hit]:
    """Rank one stage's candidates (fuse their evidence, add the topic boost, sort) and say
    which may answer.

    ``answers`` is :func:`answer_evidence` for the question stage. Pure, so evaluation can
    replay stored candidates under other parameters.
    """
    words = content_words(query)
    asked = normalized(query)
    threshold = params.threshold(stage, len(words))
    answer_scores, answer_floor = answers or ({}, 0.0)
    use_answers = answers is not None and stage == SearchField.QUESTIONS and params.uses_answers
    scored = []
    for match in matches:
        item = items.get(match.qid)
        if item is None:  # deleted between search and fetch
            continue
        coverage = keyword_coverage(words, item_text(item))
        answer = answer_scores.get(match.qid, answer_floor) if use_answers else 0.0
        boost = params.topic_boost if topic and item.topic == topic else 0.0
        score = fuse(match.vector_score, answer, coverage, boost, params)
        exact = stage == SearchField.QUESTIONS and any(normalized(q) == asked
                                                       for q in item.questions)
        scored.append((match, item, score, coverage, answer, boost, exact))
    scored.sort(key=lambda s: (not s[6], -s[2], s[1].qid))
    hits = []
    for rank, (match, item, score, coverage, answer, boost, exact) in enumerate(scored):
        if rank == 0:
            others = [s[2] - s[5] for s in scored[1:]]
            lead = (score - boost) - max(others) if others else None
            verdict = params.verdict(score, lead, threshold, exact)
        else:
            verdict = "exact" if exact else "threshold" if score >= threshold else ""
        hits.append(Hit(item, stage, score, match.vector_score, coverage, boost,
                        match.matched_text, threshold, answer, exact, verdict))
    return hits


class Matcher:
    """Runs the matching cascade for one store and one embeddings model."""

    def __init__(self, store: Store, embeddings: Embeddings | None):
        self.store = store
        self.embeddings = embeddings

    def search(self, query: str, settings: Settings, *, topic: str = "", context: str = "",
               client_filter: str | None = None, mode: MatchMode | None = None,
               all_stages: bool = False) -> SearchResult:
        """Match ``query`` through the cascade.

        ``topic`` is the session topic. ``context`` is the previous question of the
        conversation: when nothing passes and ``query`` reads as a follow-up
        (:func:`knowledge.followups.needs_context`), the cascade runs once more on
        "context query". ``mode`` overrides the configured one (for evaluation);
        ``all_stages`` keeps searching after a stage passes (for the designer's TEST tab).
        """
        params = MatchParams.from_settings(settings, mode)
        result = SearchResult(query=query, mode=params.mode)
        params = self._cascade(result, query, params, topic, client_filter, all_stages)
        if result.best is None and context and needs_context(query):
            contextual = SearchResult(query=f"{context} {query}", mode=params.mode)
            self._cascade(contextual, contextual.query, params, topic, client_filter,
                          all_stages)
            if contextual.best is not None:
                contextual.timings_ms = {
                    k: result.timings_ms.get(k, 0) + contextual.timings_ms.get(k, 0)
                    for k in {*result.timings_ms, *contextual.timings_ms}}
                contextual.degraded = result.degraded
                contextual.context_used = True
                return contextual
        return result

    def _cascade(self, result: SearchResult, query: str, params: MatchParams, topic: str,
                 client_filter: str | None, all_stages: bool) -> MatchParams:
        """Fill ``result`` stage by stage; returns the params actually used (mode may drop
        to keywords when embeddings fail)."""
        vector = None
        if params.mode != "keywords":
            started = time.perf_counter()
            try:
                if self.embeddings is None:
                    raise EmbeddingsError("no embeddings model is configured")
                vector = self.embeddings.embed([query], "q")[0]
            except EmbeddingsError as exc:
                params = replace(params, mode="keywords")
                result.mode = "keywords"
                result.degraded = f"embeddings failed, matched on keywords: {exc}"
            result.timings_ms["embed"] = (time.perf_counter() - started) * 1000

        for stage in params.stages:
            started = time.perf_counter()
            matches = self.retrieve(stage, query, vector, params, client_filter)
            answers = None
            if stage == SearchField.QUESTIONS and params.uses_answers and vector is not None:
                answers = answer_evidence(self.retrieve_answers(vector, params, client_filter))
            items = self.store.get_many([m.qid for m in matches]) if matches else {}
            items = {qid: item for qid, item in items.items() if item.kind in SEARCHABLE_KINDS}
            hits = score_stage(stage, query, matches, items, params, topic, answers)
            result.timings_ms[stage.value] = (time.perf_counter() - started) * 1000
            result.candidates.extend(hits)
            if hits and hits[0].passed and not all_stages:
                break
        return params

    def retrieve(self, stage: SearchField, query: str, vector, params: MatchParams,
                 client_filter: str | None = None) -> list[FieldMatch]:
        """The store's candidates for one stage (both kinds of evidence, not yet scored)."""
        return self.store.search(
            stage,
            vector=vector,
            text=query if params.mode != "embeddings" else None,
            k=params.candidates,
            client_filter=client_filter,
        )

    def retrieve_answers(self, vector, params: MatchParams,
                         client_filter: str | None = None) -> list[FieldMatch]:
        """The answers closest to the question vector (the answer evidence of the question
        stage; vectors only, so the floor of :func:`answer_evidence` is sound)."""
        return self.store.search(SearchField.ANSWERS, vector=vector, text=None,
                                 k=params.candidates, client_filter=client_filter)
