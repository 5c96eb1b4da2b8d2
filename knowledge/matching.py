"""Matching: QnABot's cascade over a :class:`~knowledge.store.Store`, decided by a classifier.

A question is matched in stages, as QnABot does: against item questions; if nothing passes and
``ES_SCORE_ANSWER_FIELD`` is on, against answers; then, with ``ES_SCORE_TEXT_ITEM_PASSAGES``,
against text passages. The store finds each stage's candidates; all of them compete in one
softmax, the *confidence* (see :mod:`knowledge.classifier`), whose logit for a candidate is

    scale x (classifier similarity + HYBRID_KEYWORD_WEIGHT x keyword coverage + TOPIC_BOOST)

next to a "none of these" option at ``CLASSIFIER_NONE_SIMILARITY``. The classifier similarity
is the per-knowledge-base classifier's score (or the plain cosine before one is trained, or
for items it has not seen yet); keyword coverage is the share of the question's content words
found in the item (so "next stop" and "previous stop" are told apart); the topic boost goes to
items of the session topic (so "How much does it cost?" after a ferry question answers about
the ferry).

The classifier decides *which* candidate of a stage is on top; the thresholds decide *whether*
it answers. It answers when it is a stored question asked verbatim (``exact``), when its
similarity reaches the stage's QnABot threshold (``similarity``: ``EMBEDDINGS_SCORE_THRESHOLD``,
``EMBEDDINGS_SCORE_ANSWER_THRESHOLD``, ``EMBEDDINGS_TEXT_PASSAGE_SCORE_THRESHOLD``, cosines in
0..1 as in QnABot), or when its confidence reaches ``CLASSIFIER_CONFIDENCE_THRESHOLD``
(``confident``). So an off-topic question gets no hit rather than a wrong answer. The keyword
score is computed here, not by the store, so the embedded and OpenSearch backends rank
identically; the store's BM25 only finds candidates.

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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Literal

import numpy as np

from knowledge.classifier import ItemClassifier, softmax
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


@lru_cache(maxsize=65536)
def normalized(text: str) -> str:
    """Lower-cased words only, for comparing a question with a stored one verbatim."""
    return " ".join(_WORD.findall(text.lower()))


def item_text(item: Item) -> str:
    """All the text keyword evidence is taken from: an item's questions and answer (or passage)."""
    return " ".join((*item.questions, item.answer))


@lru_cache(maxsize=65536)
def _item_words(qid: str, questions: tuple[str, ...], answer: str) -> frozenset[str]:
    return content_words(" ".join((*questions, answer)))


def item_coverage(query_words: frozenset[str], item: Item) -> float:
    """Share of ``query_words`` found in the item's questions and answer (or passage)."""
    if not query_words:
        return 0.0
    return len(query_words & _item_words(item.qid, tuple(item.questions), item.answer)) / len(
        query_words)


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
    """One ranked candidate with the evidence behind its verdict.

    ``score`` is what the stage's threshold is compared with: the cosine similarity (0..1) in
    the embeddings modes, the keyword coverage plus topic boost in keyword mode.
    ``confidence`` is the candidate's share of the softmax over every candidate of the turn
    (None in keyword mode).
    """

    item: Item
    stage: SearchField
    score: float
    vector_score: float
    keyword_score: float
    topic_boost: float
    matched_text: str
    threshold: float
    confidence: float | None = None
    classifier_score: float | None = None  # the classifier's similarity (None: not trained)
    exact: bool = False  # the question is one of the item's questions, verbatim
    verdict: str = ""  # why it passed: "exact", "similarity", "confident", "keywords"; "" = not

    @property
    def passed(self) -> bool:
        """True when this candidate may answer the question."""
        return bool(self.verdict)

    @property
    def evidence(self) -> dict[str, float]:
        """The named numbers behind the verdict (C5: rendered generically by the designer)."""
        evidence = {"cosine": round(self.vector_score, 4),
                    "keywords": round(self.keyword_score, 4)}
        if self.classifier_score is not None:
            evidence["classifier"] = round(self.classifier_score, 4)
        if self.confidence is not None:
            evidence["confidence"] = round(self.confidence, 4)
        if self.topic_boost:
            evidence["topic"] = round(self.topic_boost, 4)
        return evidence

    def to_json(self) -> dict:
        """The hit as plain JSON (for ``qnabot search --json`` and the designer's TEST tab)."""
        return {
            "qid": self.item.qid,
            "type": self.item.kind,
            "stage": self.stage.value,
            "score": round(self.score, 4),
            "vector_score": round(self.vector_score, 4),
            "keyword_score": round(self.keyword_score, 4),
            "topic_boost": round(self.topic_boost, 4),
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "threshold": self.threshold,
            "passed": self.passed,
            "verdict": self.verdict,
            "exact": self.exact,
            "matched": self.matched_text,
            "topic": self.item.topic,
            "evidence": self.evidence,
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
    classifier: str = ""  # "trained" when the knowledge base's classifier scored the turn
    params: MatchParams | None = None  # what decided it (for explanations)

    @property
    def best(self) -> Hit | None:
        """The first stage's best passing candidate, in cascade order."""
        return next((hit for hit in self.candidates if hit.passed), None)

    def to_json(self, cost: ThresholdCost | None = None) -> dict:
        """The result as plain JSON; each candidate with ``explain`` and ``suggestions``
        (``cost`` prices a threshold change on a labeled set, see :mod:`knowledge.explain`)."""
        from knowledge.explain import explain

        best = self.best
        candidates = [hit.to_json() for hit in self.candidates]
        if self.params is not None:
            for entry, note in zip(candidates, explain(self, self.params, cost), strict=True):
                entry["explain"], entry["suggestions"] = note.explain, note.suggestions
        best_json = candidates[self.candidates.index(best)] if best else None
        return {
            "query": self.query,
            "mode": self.mode,
            "best": best_json,
            "candidates": candidates,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "degraded": self.degraded,
            "context_used": self.context_used,
            "classifier": self.classifier or "untrained",
            "did_you_mean": self._did_you_mean() if best is None else [],
        }

    def _did_you_mean(self) -> list[dict]:
        """The "did you mean" buttons a text channel would get (:mod:`knowledge.suggestions`)."""
        from knowledge.suggestions import suggestions_for

        if self.params is None:
            return []
        return [{"qid": s.qid, "label": s.label, "value": s.value, "confidence": s.confidence}
                for s in suggestions_for(self.candidates, self.params)]


STAGE_THRESHOLD_SETTING = {
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
    topic_boost: float
    confidence_threshold: float
    none_similarity: float
    use_classifier: bool
    minimum_should_match: str
    stages: tuple[SearchField, ...]
    candidates: int
    #: "Did you mean" buttons when nothing answers (:mod:`knowledge.suggestions`).
    suggestions: int = 0
    suggestion_confidence: float = 1.0
    #: Normalized questions of the items never suggested (``no_hits``, ``error_msg``).
    special_questions: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings, mode: MatchMode | None = None) -> MatchParams:
        stages = [SearchField.QUESTIONS]
        if settings.get("ES_SCORE_ANSWER_FIELD"):
            stages.append(SearchField.ANSWERS)
        if settings.get("ES_SCORE_TEXT_ITEM_PASSAGES"):
            stages.append(SearchField.PASSAGES)
        return cls(
            mode=mode or ("hybrid" if settings.get("EMBEDDINGS_ENABLE") else "keywords"),
            thresholds=tuple((f, settings.get(name))
                             for f, name in STAGE_THRESHOLD_SETTING.items()),
            keyword_weight=settings.get("HYBRID_KEYWORD_WEIGHT"),
            topic_boost=settings.get("TOPIC_BOOST"),
            confidence_threshold=settings.get("CLASSIFIER_CONFIDENCE_THRESHOLD"),
            none_similarity=settings.get("CLASSIFIER_NONE_SIMILARITY"),
            use_classifier=settings.get("CLASSIFIER_ENABLE"),
            minimum_should_match=settings.get("ES_MINIMUM_SHOULD_MATCH"),
            stages=tuple(stages),
            candidates=settings.get("MATCH_CANDIDATES"),
            suggestions=settings.get("NO_HITS_SUGGESTIONS"),
            suggestion_confidence=settings.get("NO_HITS_SUGGESTION_MIN_CONFIDENCE"),
            special_questions=frozenset(normalized(settings.get(name)) for name in
                                        ("ES_NO_HITS_QUESTION", "ES_ERROR_QUESTION")),
        )

    def threshold(self, stage: SearchField, query_word_count: int) -> float:
        """The score a candidate of ``stage`` needs; in keyword mode, the word coverage."""
        if self.mode == "keywords":
            return minimum_should_match(self.minimum_should_match, query_word_count)
        return dict(self.thresholds)[stage]


@dataclass
class _Candidate:
    stage: SearchField
    match: FieldMatch
    item: Item
    coverage: float
    boost: float
    exact: bool
    similarity: float = 0.0  # the classifier's (or the cosine) similarity
    logit: float = 0.0
    confidence: float | None = None


def decide(query: str, vector: np.ndarray | None, stages: dict[SearchField, list[FieldMatch]],
           items: dict[str, Item], params: MatchParams, topic: str = "",
           classifier: ItemClassifier | None = None) -> list[Hit]:
    """Rank every stage's candidates and say which may answer, in cascade order.

    Pure (no store, no model call), so evaluation replays recorded candidates under other
    parameters with the very code a turn runs.
    """
    words = content_words(query)
    asked = normalized(query)
    found: list[_Candidate] = []
    for stage in params.stages:
        for match in stages.get(stage, ()):
            item = items.get(match.qid)
            if item is None:  # deleted between search and fetch
                continue
            found.append(_Candidate(
                stage, match, item, item_coverage(words, item),
                params.topic_boost if topic and item.topic == topic else 0.0,
                stage == SearchField.QUESTIONS and any(normalized(q) == asked
                                                       for q in item.questions)))
    scale = classifier.scale if classifier is not None else _SCALE
    trained = classifier is not None and params.use_classifier and vector is not None
    if params.mode != "keywords" and found:
        qids = list(dict.fromkeys(c.item.qid for c in found))
        best_cosine: dict[str, float] = {}
        for c in found:
            best_cosine[c.item.qid] = max(best_cosine.get(c.item.qid, -1.0), c.match.vector_score)
        cosines = [best_cosine[q] for q in qids]
        similarity = (classifier.logits(vector, qids, cosines) / scale if trained
                      else np.asarray(cosines, dtype=np.float32))
        by_qid = dict(zip(qids, similarity.tolist(), strict=True))
        for c in found:
            c.similarity = by_qid[c.item.qid]
            keyword = params.keyword_weight * c.coverage if params.mode == "hybrid" else 0.0
            c.logit = scale * (c.similarity + keyword + c.boost)
        per_item = {c.item.qid: c.logit for c in found}
        probabilities = softmax(np.asarray([*per_item.values(),
                                            scale * params.none_similarity]))
        share = dict(zip(per_item, probabilities.tolist(), strict=False))
        for c in found:
            c.confidence = share[c.item.qid]
    hits: list[Hit] = []
    for stage in params.stages:
        ranked = [c for c in found if c.stage == stage]
        if params.mode == "keywords":
            ranked.sort(key=lambda c: (not c.exact, -(c.coverage + c.boost), c.item.qid))
        else:
            ranked.sort(key=lambda c: (not c.exact, -c.logit, c.item.qid))
        threshold = params.threshold(stage, len(words))
        for rank, c in enumerate(ranked):
            score = (c.coverage + c.boost if params.mode == "keywords"
                     else c.match.vector_score)
            verdict = ("" if rank > 0 and not c.exact  # only the top candidate may answer
                       else "exact" if c.exact
                       else "keywords" if params.mode == "keywords" and score >= threshold
                       else "similarity" if params.mode != "keywords" and score >= threshold
                       else "confident" if c.confidence is not None
                       and c.confidence >= params.confidence_threshold
                       else "")
            hits.append(Hit(c.item, stage, score, c.match.vector_score, c.coverage, c.boost,
                            c.match.matched_text, threshold, c.confidence,
                            c.similarity if trained else None, c.exact, verdict))
    return hits


#: The logit scale when no classifier is trained (the classifier's own otherwise).
_SCALE = 20.0

ClassifierSource = Callable[[], ItemClassifier | None]
ThresholdCost = Callable[[float], tuple[int, int, int]]


class Matcher:
    """Runs the matching cascade for one store, one embeddings model and its classifier."""

    def __init__(self, store: Store, embeddings: Embeddings | None,
                 classifier: ClassifierSource | None = None):
        self.store = store
        self.embeddings = embeddings
        self.classifier = classifier or (lambda: None)

    def search(self, query: str, settings: Settings, *, topic: str = "", context: str = "",
               client_filter: str | None = None, mode: MatchMode | None = None,
               all_stages: bool = False) -> SearchResult:
        """Match ``query`` through the cascade.

        ``topic`` is the session topic. ``context`` is the previous question of the
        conversation: when nothing passes and ``query`` reads as a follow-up
        (:func:`knowledge.followups.needs_context`), the cascade runs once more on
        "context query". ``mode`` overrides the configured one (for evaluation);
        ``all_stages`` keeps every stage's candidates after a stage passes (for the
        designer's TEST tab).
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

    def embed_query(self, query: str, params: MatchParams,
                    result: SearchResult) -> tuple[np.ndarray | None, MatchParams]:
        """The query vector, or None with keyword params when embeddings are off or fail."""
        if params.mode == "keywords":
            return None, params
        started = time.perf_counter()
        try:
            if self.embeddings is None:
                raise EmbeddingsError("no embeddings model is configured")
            vector = self.embeddings.embed([query], "q")[0]
        except EmbeddingsError as exc:
            result.mode = "keywords"
            result.degraded = f"embeddings failed, matched on keywords: {exc}"
            vector, params = None, replace(params, mode="keywords")
        result.timings_ms["embed"] = (time.perf_counter() - started) * 1000
        return vector, params

    def _cascade(self, result: SearchResult, query: str, params: MatchParams, topic: str,
                 client_filter: str | None, all_stages: bool) -> MatchParams:
        """Fill ``result``; returns the params actually used (mode may drop to keywords when
        embeddings fail). Every enabled stage is searched: its candidates compete in the one
        softmax the confidence comes from."""
        vector, params = self.embed_query(query, params, result)
        started = time.perf_counter()
        stages = {stage: self.retrieve(stage, query, vector, params, client_filter)
                  for stage in params.stages}
        result.timings_ms["search"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        qids = list(dict.fromkeys(m.qid for found in stages.values() for m in found))
        items = self.store.get_many(qids) if qids else {}
        items = {qid: item for qid, item in items.items() if item.kind in SEARCHABLE_KINDS}
        classifier = self.classifier() if params.use_classifier else None
        result.classifier = "trained" if classifier is not None and vector is not None else ""
        result.params = params
        hits = decide(query, vector, stages, items, params, topic, classifier)
        if not all_stages:
            hits = cascade_cut(hits)
        result.candidates.extend(hits)
        result.timings_ms["decide"] = (time.perf_counter() - started) * 1000
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


def cascade_cut(hits: list[Hit]) -> list[Hit]:
    """The hits of the stages up to the first with a passing candidate (no later stage is
    shown once one answers)."""
    kept: list[Hit] = []
    for stage in dict.fromkeys(h.stage for h in hits):
        stage_hits = [h for h in hits if h.stage == stage]
        kept.extend(stage_hits)
        if any(h.passed for h in stage_hits):
            break
    return kept
