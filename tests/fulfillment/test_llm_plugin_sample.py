"""The sample LLM plugin Lambda (infra/plugins/llm_plugin/app.py) speaks the bot's contract."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from fulfillment.llm.base import LLMError, Prompt
from fulfillment.llm.lambda_plugin import LambdaLLM
from knowledge.settings import Settings

from .conftest import converse_reply

APP = Path(__file__).resolve().parents[2] / "infra" / "plugins" / "llm_plugin" / "app.py"


@pytest.fixture
def plugin(monkeypatch):
    spec = importlib.util.spec_from_file_location("llm_plugin_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    client = boto3.client("bedrock-runtime", region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    monkeypatch.setattr(module, "_client", client)
    monkeypatch.setenv("MODEL_ID", "anthropic.claude-3-haiku-20240307-v1:0")
    with Stubber(client) as stub:
        yield module, stub


class InProcessLambda:
    """A Lambda client that runs the plugin in-process, as Lambda would, errors included."""

    def __init__(self, handler):
        self.handler = handler

    def invoke(self, FunctionName, InvocationType, Payload):  # noqa: N803 - boto3's names
        try:
            body, error = self.handler(json.loads(Payload), None), None
        except Exception as exc:  # noqa: BLE001 - Lambda reports it as a function error
            body, error = {"errorMessage": str(exc), "errorType": type(exc).__name__}, "Unhandled"
        response = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}
        if error:
            response["FunctionError"] = error
        return response


def test_the_bot_gets_generated_text_from_the_sample_plugin(plugin):
    module, stub = plugin
    stub.add_response("converse", converse_reply("Bonjour !"), {
        "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
        "messages": [{"role": "user", "content": [{"text": "Say hello in French."}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 512, "temperature": 0},
        "additionalModelRequestFields": {"top_k": 50},
    })
    llm = LambdaLLM("qna-llm-plugin", InProcessLambda(module.lambda_handler))
    generation = llm.generate(Prompt("Say hello in French.", "Be brief.",
                                     {"temperature": 0, "top_k": 50}),
                              timeout=5, settings=Settings.defaults())
    assert generation.text == "Bonjour !"


def test_a_bedrock_failure_in_the_plugin_reaches_the_bot_as_a_clear_error(plugin):
    module, stub = plugin
    stub.add_client_error("converse", "AccessDeniedException", "model access not granted")
    llm = LambdaLLM("qna-llm-plugin", InProcessLambda(module.lambda_handler))
    with pytest.raises(LLMError, match="failed: AccessDeniedException: .*model access not granted"):
        llm.generate(Prompt("hi"), timeout=5, settings=Settings.defaults())


def test_the_plugin_refuses_an_event_without_a_prompt(plugin):
    module, _ = plugin
    with pytest.raises(ValueError, match='non-empty "prompt"'):
        module.lambda_handler({"parameters": {}}, None)
