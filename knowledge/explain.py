"""Why a turn got (or missed) its answer, and what would fix it, in plain English.

For each candidate of a :class:`~knowledge.matching.SearchResult` this says which rule let it
answer or held it back (``explain``), and what an admin can change (``suggestions``): add the
question to the item, or lower a threshold, with what that would cost on a labeled set when
one is given (:class:`ThresholdCost`).

Example:
    >>> notes = explain(result, params)  # doctest: +SKIP
    >>> notes[0].explain[0]  # doctest: +SKIP
    'Similarity 0.62 is below EMBEDDINGS_SCORE_THRESHOLD 0.85, ...'
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from knowledge.matching import (
    STAGE_THRESHOLD_SETTING,
    Hit,
    MatchParams,
    SearchResult,
    ThresholdCost,
)

#: Suggestions are given for the candidates ranked this high in their stage.
SUGGEST_FOR_TOP = 3


@dataclass
class Notes:
    """Plain-English notes for one candidate."""

    explain: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)


# ``ThresholdCost``: ``cost(confidence_threshold)`` -> (right answers gained, wrong answers
# added, turns) on a labeled set, for the threshold-change suggestion.


def _pct(value: float | None) -> str:
    return f"{(value or 0):.0%}"


def explain(result: SearchResult, params: MatchParams,
            cost: ThresholdCost | None = None) -> list[Notes]:
    """Notes for each candidate of ``result``, in candidate order."""
    notes: list[Notes] = []
    by_stage: dict[str, list[Hit]] = {}
    for hit in result.candidates:
        by_stage.setdefault(hit.stage.value, []).append(hit)
    shares = {h.item.qid: h.confidence for h in result.candidates if h.confidence is not None}
    none_share = max(0.0, 1.0 - sum(shares.values())) if shares else None
    best = result.best
    for hit in result.candidates:
        stage_hits = by_stage[hit.stage.value]
        rank = stage_hits.index(hit)
        notes.append(_notes(result, params, hit, rank, stage_hits, none_share, best, cost))
    return notes


def _notes(result: SearchResult, params: MatchParams, hit: Hit, rank: int,
           stage_hits: list[Hit], none_share: float | None, best: Hit | None,
           cost: ThresholdCost | None) -> Notes:
    """One candidate's notes (see :func:`explain`)."""
    note = Notes()
    name = ("ES_MINIMUM_SHOULD_MATCH" if result.mode == "keywords"
            else STAGE_THRESHOLD_SETTING[hit.stage])
    measure = "Keyword coverage" if result.mode == "keywords" else "Similarity"
    if hit.topic_boost:
        note.explain.append(f"Ranked {hit.topic_boost:g} higher for the session topic "
                            f'"{hit.item.topic}" (TOPIC_BOOST).')
    if hit.verdict == "exact":
        note.explain.append(f'"{hit.matched_text}" is one of this item\'s questions, asked '
                            "verbatim: it always answers.")
    elif hit.verdict in ("similarity", "keywords"):
        note.explain.append(f"{measure} {hit.score:.2f} reaches {name} {hit.threshold:g}.")
    elif hit.verdict == "confident":
        note.explain.append(
            f"Answers with confidence {_pct(hit.confidence)} (CLASSIFIER_CONFIDENCE_THRESHOLD "
            f"{params.confidence_threshold:g}), though its similarity {hit.score:.2f} is below "
            f"{name} {hit.threshold:g}.")
    elif rank > 0:
        top = stage_hits[0]
        note.explain.append(
            f"Ranked {rank + 1} among the {hit.stage.value} candidates: only the top one may "
            f"answer, and {top.item.qid} ranks higher (confidence {_pct(top.confidence)} "
            f"against {_pct(hit.confidence)}).")
    else:
        reason = f"{measure} {hit.score:.2f} is below {name} {hit.threshold:g}"
        if hit.confidence is not None:
            reason += (f" and its confidence {_pct(hit.confidence)} is below "
                       f"CLASSIFIER_CONFIDENCE_THRESHOLD {params.confidence_threshold:g}")
        note.explain.append(reason + ".")
        if hit.confidence is not None and none_share is not None:
            rivals = [h for h in result.candidates
                      if h.item.qid != hit.item.qid and h.confidence is not None]
            rival = max(rivals, key=lambda h: h.confidence or 0, default=None)
            if rival is None or none_share >= (rival.confidence or 0):
                note.explain.append(
                    f'"None of these" took {_pct(none_share)}: the question is not close to '
                    f"any item (CLASSIFIER_NONE_SIMILARITY {params.none_similarity:g}).")
            else:
                note.explain.append(
                    f"{rival.item.qid} ({rival.stage.value}) took {_pct(rival.confidence)} of "
                    f"the confidence: the two are alike for this question.")
    if hit.passed or rank >= SUGGEST_FOR_TOP:
        return note
    if hit.item.kind != "qna":  # a passage has no questions to add
        if best is None and rank == 0 and hit.confidence is not None:
            note.suggestions.append(
                f'To answer this with the passage {hit.item.qid}, add a QnA item with the '
                f'question "{result.query}" and the answer from the passage.')
        else:
            return note
    elif best is not None and best is not hit:
        note.suggestions.append(
            f'If {hit.item.qid} is the right answer, add the question "{result.query}" to it: '
            f"a stored question asked verbatim always answers.")
        return note
    else:
        note.suggestions.append(
            f'To answer this with {hit.item.qid}, add the question "{result.query}" to it (or '
            "a rewording users would type); the classifier retrains on save.")
    if rank == 0 and hit.confidence is not None and result.mode != "keywords":
        lower = max(0.0, int(hit.confidence * 100) / 100)
        text = (f"Or lower CLASSIFIER_CONFIDENCE_THRESHOLD from "
                f"{params.confidence_threshold:g} to {lower:g}")
        if cost is not None:
            right, wrong, turns = cost(lower)
            text += (f": on the labeled set that answers {right:+d} right and {wrong:+d} wrong "
                     f"of {turns} turns")
        note.suggestions.append(text + ".")
    return note


def labeled_cost(recording, params: MatchParams) -> ThresholdCost:
    """A :data:`ThresholdCost` that replays ``recording`` (a
    :class:`~knowledge.evaluation.Recording`) at the current and the lower threshold."""
    from knowledge.evaluation import replay

    def counts(threshold: float) -> tuple[int, int, int]:
        outcomes = replay(recording, replace(params, confidence_threshold=threshold))
        right = sum(o.correct and o.answered for o in outcomes)
        wrong = sum(o.answered and not o.correct for o in outcomes)
        return right, wrong, len(outcomes)

    now = counts(params.confidence_threshold)

    def cost(threshold: float) -> tuple[int, int, int]:
        then = counts(threshold)
        return then[0] - now[0], then[1] - now[1], now[2]

    return cost


def explain_lines(result: SearchResult, params: MatchParams,
                  cost: ThresholdCost | None = None) -> list[str]:
    """The notes of each stage's top candidate (and of the answer), as lines for a terminal;
    the JSON carries every candidate's notes."""
    notes = explain(result, params, cost)
    lines, seen = [], set()
    for hit, note in zip(result.candidates, notes, strict=True):
        if hit.stage in seen and hit is not result.best:
            continue
        seen.add(hit.stage)
        lines += [f"{hit.item.qid}: {text}" for text in note.explain]
        lines += [f"fix: {text}" for text in note.suggestions]
    return lines
