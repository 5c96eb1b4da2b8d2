"""Threshold tuning: sweep matching parameters over recorded evidence and pick the best.

Each point of the sweep replays a :class:`~knowledge.evaluation.Recording` under one set of
parameters, so the whole sweep runs without a single extra search or embedding call and works
the same for any embeddings model.

Example:
    >>> points = sweep(recording, MatchParams.from_settings(settings))  # doctest: +SKIP
    >>> recommend(points, max_wrong_rate=0.05).settings()  # doctest: +SKIP
    {'EMBEDDINGS_SCORE_THRESHOLD': '0.62', ...}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import product

import numpy as np

from knowledge.evaluation import CompactRecording, Recording, decide_fast, summarize
from knowledge.matching import MatchParams
from knowledge.store import SearchField


def _grid(low: float, high: float, step: float) -> tuple[float, ...]:
    return tuple(round(x, 3) for x in np.arange(low, high + step / 2, step))


#: Default grids, wide enough for cosine-like scores of any embeddings model.
QUESTION_THRESHOLDS = _grid(0.30, 0.95, 0.05)
PASSAGE_THRESHOLDS = _grid(0.30, 0.80, 0.05)
KEYWORD_WEIGHTS = (0.1, 0.2, 0.3)
ANSWER_WEIGHTS = (0.0, 0.25, 0.5)
TOPIC_BOOSTS = (0.1, 0.2)
#: (how far below the question threshold an unambiguous match may score, the lead it needs);
#: None = the rule is off.
UNAMBIGUOUS_RULES = (None, (0.1, 0.1), (0.1, 0.15), (0.2, 0.1), (0.2, 0.15), (0.3, 0.1),
                     (0.3, 0.15))


@dataclass(frozen=True)
class SweepPoint:
    """One parameter set and the quality it gave."""

    params: MatchParams
    summary: dict

    @property
    def question_threshold(self) -> float:
        return dict(self.params.thresholds)[SearchField.QUESTIONS]

    @property
    def passage_threshold(self) -> float:
        return dict(self.params.thresholds)[SearchField.PASSAGES]

    def settings(self) -> dict[str, str]:
        """The settings that select this point (what ``qnabot tune --apply`` stores)."""
        thresholds = dict(self.params.thresholds)
        return {
            "EMBEDDINGS_SCORE_THRESHOLD": f"{thresholds[SearchField.QUESTIONS]:g}",
            "EMBEDDINGS_SCORE_ANSWER_THRESHOLD": f"{thresholds[SearchField.ANSWERS]:g}",
            "EMBEDDINGS_TEXT_PASSAGE_SCORE_THRESHOLD": f"{thresholds[SearchField.PASSAGES]:g}",
            "HYBRID_KEYWORD_WEIGHT": f"{self.params.keyword_weight:g}",
            "ANSWER_SCORE_WEIGHT": f"{self.params.answer_weight:g}",
            "TOPIC_BOOST": f"{self.params.topic_boost:g}",
            "MATCH_UNAMBIGUOUS_THRESHOLD": f"{self.params.unambiguous_threshold:g}",
            "MATCH_UNAMBIGUOUS_MARGIN": f"{self.params.unambiguous_margin:g}",
        }

    def to_json(self) -> dict:
        return {"settings": self.settings(), **{k: v for k, v in self.summary.items()
                                                 if k != "by_category"}}


def _with(params: MatchParams, question: float, passage: float, weight: float,
          answer_weight: float, boost: float,
          unambiguous: tuple[float, float] | None) -> MatchParams:
    thresholds = dict(params.thresholds)
    thresholds[SearchField.QUESTIONS] = question
    thresholds[SearchField.ANSWERS] = question
    thresholds[SearchField.PASSAGES] = passage
    below, margin = unambiguous or (0.0, params.unambiguous_margin)
    return replace(params, thresholds=tuple(thresholds.items()), keyword_weight=weight,
                   answer_weight=answer_weight, topic_boost=boost,
                   unambiguous_threshold=round(question - below, 3) if unambiguous
                   else question, unambiguous_margin=margin)


def sweep(recording: Recording, base: MatchParams, *,
          question_thresholds: Sequence[float] = QUESTION_THRESHOLDS,
          passage_thresholds: Sequence[float] = PASSAGE_THRESHOLDS,
          keyword_weights: Sequence[float] = KEYWORD_WEIGHTS,
          answer_weights: Sequence[float] = ANSWER_WEIGHTS,
          topic_boosts: Sequence[float] = TOPIC_BOOSTS,
          unambiguous_rules: Sequence[tuple[float, float] | None] = UNAMBIGUOUS_RULES,
          on_progress: Callable[[int], object] | None = None,
          ) -> list[SweepPoint]:
    """Replay the recording at every combination of the given values.

    ``on_progress`` is called with 1 after each combination (for a progress bar).
    """
    if recording.mode != "hybrid":
        keyword_weights = (0.0,)
    if recording.mode == "keywords":
        answer_weights = (0.0,)
    compact = CompactRecording.of(recording)

    def point(params: MatchParams) -> SweepPoint:
        replayed = SweepPoint(params, summarize(decide_fast(compact, params), by_category=False))
        if on_progress is not None:
            on_progress(1)
        return replayed

    return [
        point(params)
        for params in (
            _with(base, q, p, w, a, b, u)
            for w, a, b, u, q, p in product(keyword_weights, answer_weights, topic_boosts,
                                            unambiguous_rules, question_thresholds,
                                            passage_thresholds)
        )
    ]


#: The wrong-answer rate the shipped default thresholds were chosen at (data/README.md, "How
#: the defaults were chosen"): ``qnabot tune``'s default target, so that a first run on the
#: development set agrees with the defaults.
DEFAULTS_CHOSEN_AT_WRONG_RATE = 0.08


def sweep_size(mode: str) -> int:
    """How many combinations :func:`sweep` replays with its default values, for ``mode``."""
    keyword = 1 if mode != "hybrid" else len(KEYWORD_WEIGHTS)
    answer = 1 if mode == "keywords" else len(ANSWER_WEIGHTS)
    return (keyword * answer * len(TOPIC_BOOSTS) * len(UNAMBIGUOUS_RULES)
            * len(QUESTION_THRESHOLDS) * len(PASSAGE_THRESHOLDS))


def recommend(points: Sequence[SweepPoint], *, max_wrong_rate: float) -> SweepPoint:
    """The point handling most turns right whose wrong-answer rate stays within the target.

    Ties go to the higher question threshold (fewer risky answers on unseen questions), then
    to the smaller keyword weight and topic boost (simpler). With no point under the target,
    the one with the fewest wrong answers.
    """
    allowed = [p for p in points if (p.summary["wrong_rate"] or 0) <= max_wrong_rate]
    if not allowed:
        return min(points, key=lambda p: (p.summary["wrong_rate"], -(p.summary["overall"] or 0)))
    return max(allowed, key=lambda p: (p.summary["overall"] or 0, p.question_threshold,
                                       -p.params.keyword_weight, -p.params.answer_weight,
                                       -p.params.topic_boost))


def frontier(points: Sequence[SweepPoint]) -> list[SweepPoint]:
    """For each wrong-answer rate, the point with the most right answers (for the plot/table)."""
    def overall(point: SweepPoint) -> float:
        return point.summary["overall"] or 0.0

    best: dict[float, SweepPoint] = {}
    for point in points:
        rate = point.summary["wrong_rate"] or 0.0
        if rate not in best or overall(point) > overall(best[rate]):
            best[rate] = point
    result, top = [], -1.0
    for rate in sorted(best):
        if overall(best[rate]) > top:
            result.append(best[rate])
            top = overall(best[rate])
    return result
