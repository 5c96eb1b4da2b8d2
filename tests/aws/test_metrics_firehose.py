"""Turn and feedback records reach S3 through Firehose as JSON lines Athena can read."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from fulfillment.metrics_firehose import FirehoseMetricsSink

REGION = "us-east-1"


@pytest.fixture
def streams():
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="qna-metrics")
        firehose = boto3.client("firehose", region_name=REGION)
        for name, prefix in (("qna-metrics", "metrics/"), ("qna-feedback", "feedback/")):
            firehose.create_delivery_stream(
                DeliveryStreamName=name,
                ExtendedS3DestinationConfiguration={
                    "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                    "BucketARN": "arn:aws:s3:::qna-metrics", "Prefix": prefix})
        yield s3, firehose


def _lines(s3, prefix: str) -> list[dict]:
    found = []
    for obj in s3.list_objects_v2(Bucket="qna-metrics", Prefix=prefix).get("Contents", []):
        body = s3.get_object(Bucket="qna-metrics", Key=obj["Key"])["Body"].read().decode()
        found.extend(json.loads(line) for line in body.splitlines() if line)
    return found


def test_turns_and_feedback_go_to_their_own_streams_as_json_lines(streams):
    s3, firehose = streams
    sink = FirehoseMetricsSink("qna-metrics", "qna-feedback", client=firehose)
    sink.record_turn({"qid": "Alexa.001", "utterance": "¿Qué es un Echo Show?", "got_hits": 1})
    sink.record_feedback({"qid": "Alexa.001", "feedback": "thumbs_down"})
    assert _lines(s3, "metrics/") == [{"qid": "Alexa.001", "utterance": "¿Qué es un Echo Show?",
                                       "got_hits": 1}]
    assert _lines(s3, "feedback/") == [{"qid": "Alexa.001", "feedback": "thumbs_down"}]


def test_an_oversized_answer_is_cut_not_the_record_lost(streams):
    s3, firehose = streams
    sink = FirehoseMetricsSink("qna-metrics", client=firehose)
    sink.record_turn({"qid": "Big.001", "answer": "x" * 2_000_000})
    (record,) = _lines(s3, "metrics/")
    assert record["qid"] == "Big.001" and record["truncated"] is True
    assert len(record["answer"]) == 10_000
