"""The metrics sink of a deployed bot: Amazon Data Firehose, delivering to S3 for Athena.

Each record is one JSON line (Firehose concatenates records; the newline keeps them apart for
Athena's JSON SerDe). Turn records and feedback records go to their own delivery streams, as
in QnABot, named by ``METRICS_FIREHOSE_STREAM`` and ``FEEDBACK_FIREHOSE_STREAM``. The template
partitions the S3 objects by date (``year=/month=/day=``) and declares the Glue tables that
Athena queries.

Example:
    >>> sink = FirehoseMetricsSink("qna-metrics", "qna-feedback", client=stubbed)
    ... # doctest: +SKIP
    >>> sink.record_turn({"qid": "Alexa.001", "utterance": "What is an Echo Show"})
    ... # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger(__name__)

#: Firehose's limit for one record, in bytes.
MAX_RECORD_BYTES = 1_000_000


class FirehoseMetricsSink:
    """Puts each record on its Firehose delivery stream (the client is created lazily)."""

    def __init__(self, metrics_stream: str, feedback_stream: str = "", client: Any = None):
        self.metrics_stream = metrics_stream
        self.feedback_stream = feedback_stream or metrics_stream
        from knowledge.aws import LazyClient

        self._client = LazyClient("firehose", read_timeout=5, client=client)

    def _firehose(self) -> Any:
        return self._client.get()

    def _put(self, stream: str, record: dict[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        if len(data) > MAX_RECORD_BYTES:
            # A huge answer must not lose the whole record: keep the fields, cut the text.
            record = {**record, "answer": str(record.get("answer", ""))[:10_000],
                      "truncated": True}
            data = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()
        self._firehose().put_record(DeliveryStreamName=stream, Record={"Data": data})

    def record_turn(self, record: dict[str, Any]) -> None:
        """One turn's record to the metrics stream."""
        self._put(self.metrics_stream, record)

    def record_feedback(self, record: dict[str, Any]) -> None:
        """One thumbs up/down record to the feedback stream."""
        self._put(self.feedback_stream, record)
