"""The sample embeddings Lambda (infra/plugins/embeddings_plugin/app.py), with Stubber."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from knowledge.embeddings.bedrock import BedrockEmbeddings
from knowledge.embeddings.lambda_plugin import LambdaEmbeddings
from tests.knowledge.embeddings.stubs import aws_client, bedrock_reply, record_params, stream

TITAN = "amazon.titan-embed-text-v2:0"
COHERE = "cohere.embed-english-v3"


def invoke_params(model: str) -> dict[str, Any]:
    return {"modelId": model, "body": ANY, "contentType": "application/json",
            "accept": "application/json"}


@pytest.fixture
def bedrock(plugin_app: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A stubbed bedrock-runtime client that the plugin uses instead of a real one."""
    client = aws_client("bedrock-runtime")
    monkeypatch.setattr(plugin_app, "bedrock_client", lambda: client)
    return client


def configure(monkeypatch: pytest.MonkeyPatch, model: str, dimensions: str) -> None:
    monkeypatch.setenv("EMBEDDINGS_MODEL_ID", model)
    monkeypatch.setenv("EMBEDDINGS_DIMENSIONS", dimensions)


def test_handler_returns_titans_embedding_for_qnabots_event(
        plugin_app: ModuleType, bedrock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, TITAN, "256")
    calls = record_params(bedrock, "InvokeModel")
    with Stubber(bedrock) as stub:
        stub.add_response("invoke_model", bedrock_reply({"embedding": [0.5] * 256}),
                          invoke_params(TITAN))
        reply = plugin_app.lambda_handler({"inputType": "q", "inputText": "What is QnABot?"},
                                          None)
    assert reply == {"embedding": [0.5] * 256}
    assert json.loads(calls[0]["body"]) == {"inputText": "What is QnABot?", "dimensions": 256,
                                            "normalize": True}


def test_handler_embeds_answers_as_cohere_documents(
        plugin_app: ModuleType, bedrock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, COHERE, "1024")
    calls = record_params(bedrock, "InvokeModel")
    with Stubber(bedrock) as stub:
        stub.add_response("invoke_model", bedrock_reply({"embeddings": [[0.1] * 1024]}),
                          invoke_params(COHERE))
        reply = plugin_app.lambda_handler({"inputType": "a", "inputText": "We open at 9."}, None)
    assert len(reply["embedding"]) == 1024
    assert json.loads(calls[0]["body"]) == {"texts": ["We open at 9."],
                                            "input_type": "search_document", "truncate": "END"}


def test_plugin_sends_the_same_bodies_as_the_bedrock_adapter(plugin_app: ModuleType) -> None:
    text = "How do I reset my password? " * 3000  # past both models' character limits
    titan = BedrockEmbeddings(TITAN, dimensions=512)
    assert plugin_app.request_body(TITAN, 512, text, "q") == titan.titan_body(text)
    cohere = BedrockEmbeddings(COHERE, dimensions=1024)
    for input_type in ("q", "a"):
        assert (plugin_app.request_body(COHERE, 1024, text, input_type)
                == cohere.cohere_body([text], input_type))


def test_blank_text_gets_zeros_without_calling_bedrock(
        plugin_app: ModuleType, bedrock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, TITAN, "512")
    with Stubber(bedrock) as stub:
        reply = plugin_app.lambda_handler({"inputType": "q", "inputText": " "}, None)
        stub.assert_no_pending_responses()
    assert reply == {"embedding": [0.0] * 512}


@pytest.mark.parametrize("event, problem", [
    ({"inputType": "q"}, "expected an event"),
    ({"inputType": "x", "inputText": "hi"}, 'inputType must be "q" or "a"'),
    ("hello", "expected an event"),
])
def test_bad_events_are_refused_with_the_expected_shape(
        plugin_app: ModuleType, event: Any, problem: str) -> None:
    with pytest.raises(plugin_app.PluginError, match=problem):
        plugin_app.lambda_handler(event, None)


@pytest.mark.parametrize("model, dimensions, problem", [
    (TITAN, "384", "not EMBEDDINGS_DIMENSIONS=384"),
    (TITAN, "many", "is not a number"),
    ("amazon.titan-embed-text-v1", "1536", "is not supported"),
])
def test_bad_settings_are_refused_naming_the_variable(
        plugin_app: ModuleType, monkeypatch: pytest.MonkeyPatch, model: str, dimensions: str,
        problem: str) -> None:
    configure(monkeypatch, model, dimensions)
    with pytest.raises(plugin_app.PluginError, match=problem):
        plugin_app.lambda_handler({"inputType": "q", "inputText": "hi"}, None)


def test_a_reply_of_the_wrong_length_is_an_error(
        plugin_app: ModuleType, bedrock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, TITAN, "1024")
    with Stubber(bedrock) as stub:
        stub.add_response("invoke_model", bedrock_reply({"embedding": [0.1] * 256}),
                          invoke_params(TITAN))
        with pytest.raises(plugin_app.PluginError, match="returned 256 numbers, expected 1024"):
            plugin_app.lambda_handler({"inputType": "q", "inputText": "hi"}, None)


class InProcessLambda:
    """A Lambda client that runs the plugin's handler in this process, as Lambda would."""

    def __init__(self, handler: Any):
        self.handler = handler

    def invoke(self, FunctionName: str, Payload: str, **_: Any) -> dict[str, Any]:
        try:
            result = self.handler(json.loads(Payload), None)
        except Exception as error:
            return {"StatusCode": 200, "FunctionError": "Unhandled",
                    "Payload": stream({"errorMessage": str(error),
                                       "errorType": type(error).__name__})}
        return {"StatusCode": 200, "Payload": stream(result)}


def test_lambda_embeddings_adapter_works_against_the_plugin(
        plugin_app: ModuleType, bedrock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, TITAN, "256")
    model = LambdaEmbeddings("qna-embeddings", dimension=256,
                             client=InProcessLambda(plugin_app.lambda_handler))
    with Stubber(bedrock) as stub:
        stub.add_response("invoke_model", bedrock_reply({"embedding": [1.0] + [0.0] * 255}),
                          invoke_params(TITAN))
        vectors = model.embed(["What is QnABot?"], "q")
    assert vectors.shape == (1, 256) and vectors[0, 0] == 1.0
