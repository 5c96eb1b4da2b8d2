"""Threshold tuning: sweep matching parameters over recorded evidence and pick the best.

Each point of the sweep replays a :class:`~knowledge.evaluation.Recording` under one set of
parameters, so the whole sweep runs without a single extra search or embedding call and works
the same for any embeddings model.

Example:
    >>> points = sweep(recording, MatchParams.from_settings(settings))  # doctest: +SKIP
    >>> recommend(points, max_wrong_rate=0.05).settings()  # doctest: +SKIP
    {'EMBEDDINGS_SCORE_THRESHOLD': '0.9', ...}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import product

import numpy as np

from knowledge.evaluation import Recording, replay, summarize
from knowledge.matching import MatchParams
from knowledge.store import SearchField


def _grid(low: float, high: float, step: float) -> tuple[float, ...]:
    return tuple(round(x, 3) for x in np.arange(low, high + step / 2, step))


#: Default grids: similarities (cosine, 0..1) and confidences (0..1) for any embeddings model.
QUESTION_THRESHOLDS = (0.85, 0.9)
PASSAGE_THRESHOLDS = (0.8,)
CONFIDENCE_THRESHOLDS = _grid(0.3, 0.9, 0.05)
NONE_SIMILARITIES = _grid(0.4, 0.6, 0.05)
KEYWORD_WEIGHTS = (0.05, 0.1, 0.15)
TOPIC_BOOSTS = (0.1, 0.15, 0.2, 0.25)


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
            "TOPIC_BOOST": f"{self.params.topic_boost:g}",
            "CLASSIFIER_CONFIDENCE_THRESHOLD": f"{self.params.confidence_threshold:g}",
            "CLASSIFIER_NONE_SIMILARITY": f"{self.params.none_similarity:g}",
        }

    def to_json(self) -> dict:
        return {"settings": self.settings(), **{k: v for k, v in self.summary.items()
                                                 if k != "by_category"}}


def _with(params: MatchParams, question: float, passage: float, weight: float, boost: float,
          confidence: float, none: float) -> MatchParams:
    thresholds = dict(params.thresholds)
    thresholds[SearchField.QUESTIONS] = question
    thresholds[SearchField.PASSAGES] = passage
    return replace(params, thresholds=tuple(thresholds.items()), keyword_weight=weight,
                   topic_boost=boost, confidence_threshold=confidence, none_similarity=none)


def sweep(recording: Recording, base: MatchParams, *,
          question_thresholds: Sequence[float] = QUESTION_THRESHOLDS,
          passage_thresholds: Sequence[float] = PASSAGE_THRESHOLDS,
          keyword_weights: Sequence[float] = KEYWORD_WEIGHTS,
          topic_boosts: Sequence[float] = TOPIC_BOOSTS,
          confidence_thresholds: Sequence[float] = CONFIDENCE_THRESHOLDS,
          none_similarities: Sequence[float] = NONE_SIMILARITIES,
          on_progress: Callable[[int], object] | None = None,
          ) -> list[SweepPoint]:
    """Replay the recording at every combination of the given values (each replay runs the
    matcher's own decision code over the recorded candidates).

    ``on_progress`` is called with 1 after each combination (for a progress bar).
    """
    if recording.mode != "hybrid":
        keyword_weights = (0.0,)
    if recording.mode == "keywords":
        confidence_thresholds, none_similarities = (1.0,), (base.none_similarity,)
    points = []
    for w, b, n, q, p, c in product(keyword_weights, topic_boosts, none_similarities,
                                    question_thresholds, passage_thresholds,
                                    confidence_thresholds):
        params = _with(base, q, p, w, b, c, n)
        # no "did you mean" buttons: the sweep compares answers only (10% of a replay)
        points.append(SweepPoint(params, summarize(replay(recording, replace(
            params, suggestions=0)), by_category=False)))
        if on_progress is not None:
            on_progress(1)
    return points


#: The wrong-answer rate the shipped default thresholds were chosen at (data/README.md, "How
#: the defaults were chosen"): ``qnabot tune``'s default target, so that a first run on the
#: development set agrees with the defaults.
DEFAULTS_CHOSEN_AT_WRONG_RATE = 0.05


def sweep_size(mode: str) -> int:
    """How many combinations :func:`sweep` replays with its default values, for ``mode``."""
    keyword = 1 if mode != "hybrid" else len(KEYWORD_WEIGHTS)
    classifier = 1 if mode == "keywords" else len(CONFIDENCE_THRESHOLDS) * len(NONE_SIMILARITIES)
    return (keyword * classifier * len(TOPIC_BOOSTS) * len(QUESTION_THRESHOLDS)
            * len(PASSAGE_THRESHOLDS))


def recommend(points: Sequence[SweepPoint], *, max_wrong_rate: float) -> SweepPoint:
    """The point with the fewest wrong answers among those within one turn of the most turns
    handled right, with a wrong-answer rate within the target (how the defaults were chosen:
    one more right turn on the labeled set is noise, one more wrong answer is not).

    Ties go to the higher question threshold (fewer risky answers on unseen questions), then
    to the higher confidence threshold, then to the smaller keyword weight and topic boost
    (simpler). With no point under the target, the one with the fewest wrong answers.
    """
    def overall(point: SweepPoint) -> float:
        return point.summary["overall"] or 0.0

    allowed = [p for p in points if (p.summary["wrong_rate"] or 0) <= max_wrong_rate]
    if not allowed:
        return min(points, key=lambda p: (p.summary["wrong_rate"], -overall(p)))
    best = max(overall(p) for p in allowed)
    one_turn = 1 / max(1, max(p.summary["turns"] for p in allowed))
    near = [p for p in allowed if overall(p) >= best - one_turn - 1e-9]
    return min(near, key=lambda p: (p.summary["wrong_rate"] or 0, -overall(p),
                                    -p.question_threshold, -p.params.confidence_threshold,
                                    p.params.keyword_weight, p.params.topic_boost))


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


@dataclass(frozen=True)
class Tuning:
    """What a tune found: the current settings' point, every point tried, the recommended
    one and the frontier (what ``qnabot tune`` prints and the designer's Tune tab draws)."""

    current: SweepPoint
    points: list[SweepPoint]
    recommended: SweepPoint
    frontier: list[SweepPoint]


def tune(recording: Recording, params: MatchParams, *, max_wrong_rate: float,
         on_progress: Callable[[int], object] | None = None) -> Tuning:
    """Score the current ``params`` on ``recording``, sweep the default grids around them and
    recommend the point for ``max_wrong_rate`` (``on_progress`` as in :func:`sweep`)."""
    current = SweepPoint(params, summarize(replay(recording, params), by_category=False))
    points = sweep(recording, params, on_progress=on_progress)
    return Tuning(current, points, recommend(points, max_wrong_rate=max_wrong_rate),
                  frontier(points))
