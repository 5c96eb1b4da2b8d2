"""Every AWS adapter added for guardrails, languages, metrics and streaming makes its own boto3
client when none is given (as in Lambda), for the right service and with time limits."""

from __future__ import annotations

import pytest

from fulfillment.guardrails import BedrockGuard
from fulfillment.languages import AmazonTranslator, ComprehendDetector
from fulfillment.metrics_firehose import FirehoseMetricsSink
from fulfillment.streaming_ws import WebSocketStreamer


@pytest.fixture(autouse=True)
def region(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


@pytest.mark.parametrize(("make", "service"), [
    (lambda: BedrockGuard()._bedrock(), "bedrock-runtime"),
    (lambda: ComprehendDetector()._client.get(), "comprehend"),
    (lambda: AmazonTranslator()._translate_client(), "translate"),
    (lambda: FirehoseMetricsSink("s")._firehose(), "firehose"),
    (lambda: WebSocketStreamer("t", "https://abc.execute-api.eu-west-1.amazonaws.com/prod")
     ._clients()[1], "apigatewaymanagementapi"),
])
def test_the_adapter_builds_its_client_with_time_limits(make, service):
    client = make()
    assert client.meta.service_model.service_name == service
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.read_timeout <= 10


def test_the_streaming_client_posts_to_the_websocket_stage():
    streamer = WebSocketStreamer("t", "https://abc.execute-api.eu-west-1.amazonaws.com/prod")
    assert streamer._clients()[1].meta.endpoint_url == \
        "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
