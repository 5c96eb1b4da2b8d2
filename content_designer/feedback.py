"""The older feedback route (``POST`` / ``GET feedback``): record a verdict, list them.

A client may send one :class:`Feedback` naming an answer's qid and question. The embedded log
appends JSON Lines to ``$QNABOT_HOME/feedback.jsonl`` (one write per record, so a crash loses
at most the record being written); in AWS :mod:`content_designer.feedback_s3` keeps them in S3.
The chat page itself sends thumbs as utterances, whose feedback the turn's metrics record
(:mod:`fulfillment.metrics`); the analytics count both, each verdict once
(:func:`content_designer.analytics.merge_feedback`).

Example:
    >>> import tempfile, pathlib
    >>> log = FileFeedbackLog(pathlib.Path(tempfile.mkdtemp()) / "feedback.jsonl")
    >>> _ = log.record(Feedback(session_id="s1", qid="Alexa.001", question="Echo?", verdict="up"))
    >>> [f.verdict for f in log.list()[0]]
    ['up']
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from knowledge.private_files import open_private_append

Verdict = Literal["up", "down"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Feedback:
    """One verdict on one answer."""

    session_id: str
    qid: str
    question: str
    verdict: Verdict
    answer: str = ""
    time: str = field(default_factory=_now)

    def to_json(self) -> dict:
        return asdict(self)


class FeedbackLog(Protocol):
    """Port: where feedback is kept."""

    def record(self, feedback: Feedback) -> Feedback:
        """Store one verdict and return it."""
        ...

    def list(self, *, limit: int = 100, offset: int = 0,
             verdict: Verdict | None = None) -> tuple[list[Feedback], int]:
        """The newest records first (a page of them) and how many match in all."""
        ...


class FileFeedbackLog:
    """Feedback as JSON Lines in one file; lines that do not parse are skipped when listing."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def record(self, feedback: Feedback) -> Feedback:
        line = json.dumps(feedback.to_json(), ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open_private_append(self.path) as handle:
                handle.write(line)
        return feedback

    def list(self, *, limit: int = 100, offset: int = 0,
             verdict: Verdict | None = None) -> tuple[list[Feedback], int]:
        records = [f for f in self._read() if verdict is None or f.verdict == verdict]
        records.reverse()
        return records[offset:offset + limit], len(records)

    def _read(self) -> list[Feedback]:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                lines = handle.readlines()
        except FileNotFoundError:
            return []
        records = []
        for line in lines:
            try:
                records.append(Feedback(**json.loads(line)))
            except (ValueError, TypeError):
                continue  # a torn last line after a crash
        return records
