"""The local metrics store: per-turn and feedback records in ``$QNABOT_HOME/metrics.sqlite``.

One table per kind of record, each row the record's JSON plus its time, so the designer's
analytics (:mod:`content_designer.analytics`) can read a time window quickly. Writes are one
short transaction each (WAL mode), so several processes (``qnabot serve``, ``qnabot chat``)
can use the file at once.

Example:
    >>> import tempfile, pathlib
    >>> sink = SqliteMetricsSink(pathlib.Path(tempfile.mkdtemp()) / "metrics.sqlite")
    >>> sink.record_turn({"datetime": "2026-01-02T10:00:00.000+00:00", "qid": "A.1"})
    >>> [r["qid"] for r in sink.turns(since="2026-01-01")]
    ['A.1']
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from fulfillment.metrics import Records, now_iso

_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (time TEXT NOT NULL, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS turns_time ON turns (time);
CREATE TABLE IF NOT EXISTS feedback (time TEXT NOT NULL, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS feedback_time ON feedback (time);
"""
#: Most records one read returns (the newest are kept when a window holds more).
MAX_READ = 200_000


class SqliteMetricsSink:
    """A :class:`~fulfillment.metrics.MetricsSink` that also reads its records back."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        """The one connection, opened on first use (call with the lock held)."""
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # WAL: a crash loses no commit
            connection.executescript(_SCHEMA)
            self._connection = connection
        return self._connection

    def _insert(self, table: str, record: dict[str, Any]) -> None:
        row = (str(record.get("datetime") or now_iso()), json.dumps(record, ensure_ascii=False))
        with self._lock:
            connection = self._connect()
            with connection:
                connection.execute(f"INSERT INTO {table} (time, record) VALUES (?, ?)", row)

    def record_turn(self, record: dict[str, Any]) -> None:
        """Keep one turn's record."""
        self._insert("turns", record)

    def record_feedback(self, record: dict[str, Any]) -> None:
        """Keep one feedback record."""
        self._insert("feedback", record)

    def _read(self, table: str, since: str) -> Records:
        if not self.path.exists():
            return Records()
        with self._lock:
            rows = self._connect().execute(
                f"SELECT record FROM {table} WHERE time >= ? ORDER BY time DESC LIMIT ?",
                (since, MAX_READ)).fetchall()
        records: list[dict[str, Any]] = []
        for (text,) in reversed(rows):
            try:
                records.append(json.loads(text))
            except ValueError:
                continue
        return Records(records, truncated=len(rows) >= MAX_READ)

    def turns(self, since: str = "") -> Records:
        """Turn records from ``since`` (an ISO date or time) on, oldest first."""
        return self._read("turns", since)

    def feedback(self, since: str = "") -> Records:
        """Feedback records from ``since`` on, oldest first."""
        return self._read("feedback", since)
