"""What users ask and what goes unanswered: the designer's analytics from the metrics records.

:func:`summarize` turns the per-turn and feedback records of :mod:`fulfillment.metrics` (read
back through a :class:`MetricsReader`) into what the analytics page draws: questions per day
answered and unanswered, the top questions and top unanswered questions (grouped ignoring
case, accents and punctuation), feedback per item, answer sources, LLM calls and latency, and
the "did you mean" buttons people took (each a question to add to the item they chose).

The chat page's welcome turn (``welcome: true`` in its record) is no question: it counts as a
chat opened (``totals.opened``) and nowhere else. Feedback comes from the metrics records and,
through :func:`merge_feedback`, from the older feedback log (``POST feedback``), each verdict
once.

Example:
    >>> turns = [{"datetime": "2026-01-02T10:00:00+00:00", "utterance": "Hi", "got_hits": 1,
    ...           "qid": "Hello.1"}]
    >>> summarize(turns, [], days=7, today=date(2026, 1, 2))["totals"]["answered"]
    1
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from content_designer.item_search import fold
from fulfillment.metrics import Records
from knowledge.items import QID_PREFIX

#: Rows in each "top" list.
TOP = 15


#: The fields of a turn record :func:`summarize` reads (a reader may return only these).
TURN_FIELDS = ("datetime", "sessionId", "utterance", "qid", "got_hits", "answerSource",
               "latency_ms", "llm_calls", "llm_ms", "welcome", "feedback", "suggested")
#: The fields of a feedback record :func:`summarize` and :func:`merge_feedback` read.
FEEDBACK_FIELDS = ("datetime", "sessionId", "feedback", "qid", "utterance")
#: Seconds a feedback log record may precede the metrics record of the same verdict and still
#: be that verdict (see :func:`merge_feedback`).
SAME_VERDICT_S = 60.0


class MetricsUnavailableError(RuntimeError):
    """The records could not be read now (the message says why and what to do)."""


class MetricsReader(Protocol):
    """Port: reads back the records a metrics sink kept.

    Raises :class:`MetricsUnavailableError` when the records cannot be read now.
    """

    def turns(self, since: str = "") -> Records:
        """Turn records from ``since`` (ISO date) on, oldest first."""
        ...

    def feedback(self, since: str = "") -> Records:
        """Feedback records from ``since`` on, oldest first."""
        ...


def question_key(text: str) -> str:
    """The form questions are grouped by: folded, punctuation and extra spaces removed.

    >>> question_key("  Where's the FERRY?? ")
    'wheres the ferry'
    """
    return " ".join(re.sub(r"[^\w\s]", "", fold(text)).split())


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)


def _top(groups: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The most asked groups, each with its most common wording and the qids it got."""
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:TOP]
    rows = []
    for _key, records in ranked:
        wording = Counter(str(r.get("utterance") or "") for r in records).most_common(1)[0][0]
        qids = Counter(str(r.get("qid") or "") for r in records
                       if r.get("qid") and r.get("got_hits"))  # not the no_hits item's qid
        rows.append({"question": wording, "count": len(records),
                     "qid": qids.most_common(1)[0][0] if qids else "",
                     "last": str(records[-1].get("datetime") or "")})
    return rows


def _is_feedback(record: dict[str, Any]) -> bool:
    """The turn judged the previous answer: its record says so, or (records written before
    they did) its words are the thumbs phrases."""
    return bool(record.get("feedback")) or question_key(
        str(record.get("utterance") or "")) in ("thumbs up", "thumbs down")


def summarize(turns: Iterable[dict[str, Any]], feedback: Iterable[dict[str, Any]], *,
              days: int, today: date) -> dict[str, Any]:
    """The analytics of the last ``days`` days up to ``today`` (records outside are ignored)."""
    first = today - timedelta(days=days - 1)
    per_day = {first + timedelta(days=n): {"asked": 0, "answered": 0} for n in range(days)}
    asked: dict[str, list[dict[str, Any]]] = defaultdict(list)
    unanswered: dict[str, list[dict[str, Any]]] = defaultdict(list)
    sources: Counter[str] = Counter()
    sessions: set[str] = set()
    latencies: list[float] = []
    llm_ms: list[float] = []
    llm_calls = 0
    opened = 0
    questions: list[dict[str, Any]] = []  # in the order they were asked
    for record in turns:
        day = _day(record)
        if day is None or day not in per_day or _is_feedback(record):
            continue
        if record.get("welcome") is True:  # the chat page opened, nobody asked yet
            opened += 1
            continue
        questions.append(record)
        answered = bool(record.get("got_hits"))
        per_day[day]["asked"] += 1
        per_day[day]["answered"] += answered
        utterance = str(record.get("utterance") or "")
        key = question_key(utterance)
        if key and not utterance.upper().startswith(QID_PREFIX):  # a tapped button
            asked[key].append(record)
            if not answered:
                unanswered[key].append(record)
        sources[str(record.get("answerSource") or "unknown")] += 1
        sessions.add(str(record.get("sessionId") or ""))
        if isinstance(record.get("latency_ms"), int | float):
            latencies.append(float(record["latency_ms"]))
        calls = int(record.get("llm_calls") or 0)
        llm_calls += calls
        if calls:
            llm_ms.append(float(record.get("llm_ms") or 0.0))
    total = sum(d["asked"] for d in per_day.values())
    answered_total = sum(d["answered"] for d in per_day.values())
    return {
        "days": days,
        "from": first.isoformat(),
        "to": today.isoformat(),
        "totals": {"asked": total, "answered": answered_total,
                   "unanswered": total - answered_total,
                   "answer_rate": round(answered_total / total, 4) if total else None,
                   "sessions": len(sessions - {""}), "opened": opened},
        "per_day": [{"date": d.isoformat(), "asked": v["asked"], "answered": v["answered"],
                     "unanswered": v["asked"] - v["answered"]} for d, v in per_day.items()],
        "top_questions": _top(asked),
        "top_unanswered": _top(unanswered),
        "sources": dict(sources.most_common()),
        "feedback": _feedback(feedback, per_day),
        "latency_ms": {"median": _percentile(latencies, 0.5), "p95": _percentile(latencies, 0.95)},
        "llm": {"calls": llm_calls, "turns": len(llm_ms),
                "median_ms": _percentile(llm_ms, 0.5), "p95_ms": _percentile(llm_ms, 0.95)},
        "suggestions": _suggestions(questions),
    }


def _offered(record: dict[str, Any]) -> list[str]:
    return [qid for qid in str(record.get("suggested") or "").split(",") if qid]


def _suggestions(questions: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """"Did you mean" buttons: the unanswered questions that got them, and those whose asker
    took one (the next question of the conversation was answered by an offered item), grouped
    by question and item, the most taken first: each is a question to add to that item."""
    by_session: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in questions:
        by_session[str(record.get("sessionId") or "")].append(record)
    offered = 0
    taken: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for records in by_session.values():
        for asked, after in zip(records, [*records[1:], None], strict=True):
            choices = _offered(asked)
            if not choices or asked.get("got_hits"):
                continue
            offered += 1
            if after is not None and after.get("got_hits") and after.get("qid") in choices:
                key = question_key(str(asked.get("utterance") or ""))
                taken[(key, str(after["qid"]))].append(asked)
    rows = sorted(taken.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:TOP]
    return {"offered": offered, "taken": sum(len(r) for r in taken.values()),
            "taken_questions": [
                {"question": Counter(str(r.get("utterance") or "") for r in records)
                 .most_common(1)[0][0], "qid": qid, "count": len(records)}
                for (_key, qid), records in rows]}


def _day(record: dict[str, Any]) -> date | None:
    try:
        return date.fromisoformat(str(record.get("datetime") or "")[:10])
    except ValueError:
        return None


def _verdict(record: dict[str, Any]) -> str:
    """"up" or "down", from QnABot's ``thumbs_up`` / ``thumbs_down`` or the log's verdict."""
    return "up" if str(record.get("feedback")) in ("thumbs_up", "up", "correct") else "down"


def _time(record: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(record.get("datetime") or ""))
    except ValueError:
        return None


def merge_feedback(recorded: Iterable[dict[str, Any]],
                   logged: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The metrics store's feedback records and the feedback log's that they do not hold
    already, oldest first.

    The log (``feedback.jsonl``, S3 ``feedback/``) keeps what ``POST feedback`` records, and,
    locally, what QnABot's feedback hook wrote before the hook's verdict went to the metrics:
    that thumbs turn was also recorded by the metrics. A log record with the same session, qid
    and verdict as a metrics record, at most :data:`SAME_VERDICT_S` seconds before it (the hook
    wrote during the turn, the metrics after it), is that verdict and is left out.

    >>> metric = {"datetime": "2026-03-02T10:00:01.250+00:00", "sessionId": "s1",
    ...           "feedback": "thumbs_up", "qid": "A.1"}
    >>> hook = {"datetime": "2026-03-02T10:00:01+00:00", "sessionId": "s1",
    ...         "feedback": "up", "qid": "A.1"}
    >>> posted = {**hook, "sessionId": "s2"}
    >>> len(merge_feedback([metric], [hook, posted]))
    2
    """
    merged = list(recorded)
    unmatched: dict[tuple[str, str, str], list[datetime]] = defaultdict(list)
    for record in merged:
        when = _time(record)
        if when is not None:
            unmatched[_feedback_key(record)].append(when)
    for record in logged:
        when, times = _time(record), unmatched.get(_feedback_key(record), [])
        same = next((t for t in times if when is not None and
                     0 <= (t - when).total_seconds() <= SAME_VERDICT_S), None)
        if same is None:
            merged.append(record)
        else:
            times.remove(same)
    merged.sort(key=lambda r: str(r.get("datetime") or ""))
    return merged


def _feedback_key(record: dict[str, Any]) -> tuple[str, str, str]:
    return str(record.get("sessionId") or ""), str(record.get("qid") or ""), _verdict(record)


def _feedback(records: Iterable[dict[str, Any]], per_day: dict[date, Any]) -> dict[str, Any]:
    """Thumbs up and down in the window, per item (the most disliked first) and the latest."""
    by_qid: dict[str, Counter[str]] = defaultdict(Counter)
    kept = []
    for record in records:
        if _day(record) not in per_day:
            continue
        verdict = _verdict(record)
        by_qid[str(record.get("qid") or "")][verdict] += 1
        kept.append({**record, "verdict": verdict})
    items = sorted(({"qid": qid, "up": c["up"], "down": c["down"]} for qid, c in by_qid.items()),
                   key=lambda row: (-row["down"], -row["up"], row["qid"]))
    return {"up": sum(r["up"] for r in items), "down": sum(r["down"] for r in items),
            "items": items[:TOP],
            "recent": [{"datetime": r.get("datetime", ""), "verdict": r["verdict"],
                        "qid": r.get("qid", ""), "question": r.get("utterance", "")}
                       for r in reversed(kept[-50:])]}

