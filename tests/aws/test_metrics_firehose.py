"""Turn and feedback records reach S3 through Firehose as JSON lines Athena can read."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from fulfillment.metrics_firehose import FirehoseMetricsSink
from knowledge.settings import Settings

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


def test_a_deployed_bot_sends_each_turns_record_to_firehose(streams, monkeypatch, kb_turn):
    s3, firehose = streams
    monkeypatch.delenv("QNABOT_METRICS", raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "qna-fulfillment")
    monkeypatch.setenv("METRICS_FIREHOSE_STREAM", "qna-metrics")
    monkeypatch.setenv("FEEDBACK_FIREHOSE_STREAM", "qna-feedback")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    from fulfillment import metrics

    sink = metrics.open_metrics_sink()
    assert isinstance(sink, FirehoseMetricsSink)
    assert sink._firehose().meta.service_model.service_name == "firehose"  # a real client
    sink = FirehoseMetricsSink(sink.metrics_stream, sink.feedback_stream, client=firehose)
    metrics.record_turn_metrics(kb_turn("thumbs down"), Settings.defaults(), sink)
    (turn,) = _lines(s3, "metrics/")
    assert turn["utterance"] == "thumbs down" and turn["clientType"] == "LEX.Text"
    (feedback,) = _lines(s3, "feedback/")
    assert feedback["feedback"] == "thumbs_down"


@pytest.fixture
def kb_turn():
    from fulfillment.model import Answer, Request, TurnDebug, TurnResult

    def make(text: str) -> TurnResult:
        return TurnResult(Request("s1", text), Answer("Thanks for your feedback.", "qna",
                                                      qid="Feedback.002"), TurnDebug())
    return make
