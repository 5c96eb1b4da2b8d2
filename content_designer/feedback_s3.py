"""Feedback in S3 (the AWS adapter of :class:`content_designer.feedback.FeedbackLog`).

One small JSON object per verdict under ``feedback/`` in the stack's import/export bucket; the
keys start with the time, so a listing comes in time order. (The bucket's job events watch
``imports/``, ``exports/`` and ``test_all/`` only.)

Example:
    >>> log = S3FeedbackLog("qnabot-jobs-123")  # doctest: +SKIP
    >>> log.record(Feedback("s1", "Alexa.001", "Echo?", "up")).verdict  # doctest: +SKIP
    'up'
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3

from content_designer.feedback import Feedback, Verdict

FEEDBACK = "feedback/"


class S3FeedbackLog:
    """One object per verdict; keys start with the time, so a listing is in time order."""

    def __init__(self, bucket: str, client: Any = None):
        self.bucket = bucket
        self.s3 = client or boto3.client("s3")

    def record(self, feedback: Feedback) -> Feedback:
        key = f"{FEEDBACK}{feedback.time}-{uuid.uuid4().hex[:8]}.json"
        self.s3.put_object(Bucket=self.bucket, Key=key, ContentType="application/json",
                           Body=json.dumps(feedback.to_json(), ensure_ascii=False).encode())
        return feedback

    def list(self, *, limit: int = 100, offset: int = 0,
             verdict: Verdict | None = None) -> tuple[list[Feedback], int]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                 Prefix=FEEDBACK)
        keys = sorted((o["Key"] for page in pages for o in page.get("Contents", [])),
                      reverse=True)
        records = []
        for key in keys:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            try:
                record = Feedback(**json.loads(body))
            except (ValueError, TypeError):
                continue
            if verdict is None or record.verdict == verdict:
                records.append(record)
        return records[offset:offset + limit], len(records)
