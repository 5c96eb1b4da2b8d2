"""Thumbs up/down feedback from the chat, kept where the content designer lists it.

:class:`JsonlFeedbackLog` is the local adapter of
:class:`fulfillment.builtin_hooks.FeedbackSink`: one JSON line per verdict in
``$QNABOT_HOME/feedback.jsonl``, in the record format the designer's feedback page reads
(``session_id, qid, question, verdict, answer, time``).

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "feedback.jsonl"
    >>> JsonlFeedbackLog(path).record_feedback({"session_id": "s1", "qid": "A.1",
    ...     "question": "Hi?", "verdict": "up", "answer": "Hello", "time": "2026-12-01"})
    >>> path.read_text().count("\\n")
    1
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The fields of a feedback record, as the designer's feedback log reads them.
FIELDS = ("session_id", "qid", "question", "verdict", "answer", "time")


class JsonlFeedbackLog:
    """Feedback records appended to a JSON Lines file (one write per record)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def record_feedback(self, record: Mapping[str, Any]) -> None:
        """Append one record (only the designer's fields)."""
        line = json.dumps({k: str(record.get(k) or "") for k in FIELDS}, ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
