"""LLM adapters: Bedrock Converse (Stubber), the Lambda plugin contract, time limits."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

from fulfillment.llm import open_llm
from fulfillment.llm.base import LLMError, LLMTimeout, Prompt, generate_within
from fulfillment.llm.bedrock import BedrockLLM
from fulfillment.llm.lambda_plugin import LambdaLLM
from fulfillment.llm.scripted import HANG, ScriptedLLM
from knowledge.settings import Settings

from .conftest import converse_reply

SETTINGS = Settings.defaults()


def client(service):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")


def test_bedrock_sends_a_converse_request_with_model_system_and_parameters():
    runtime = client("bedrock-runtime")
    settings = SETTINGS.with_overrides(LLM_MODEL_ID="anthropic.claude-3-5-haiku-20241022-v1:0")
    with Stubber(runtime) as stub:
        stub.add_response("converse", converse_reply("Lima."), {
            "modelId": "anthropic.claude-3-5-haiku-20241022-v1:0",
            "messages": [{"role": "user", "content": [{"text": "Capital of Peru?"}]}],
            "system": [{"text": "Answer briefly."}],
            "inferenceConfig": {"temperature": 0, "maxTokens": 256},
            "additionalModelRequestFields": {"top_k": 40},
        })
        generation = BedrockLLM(runtime).generate(
            Prompt("Capital of Peru?", "Answer briefly.",
                   {"temperature": 0, "max_tokens": 256, "top_k": 40}),
            timeout=5, settings=settings)
    assert (generation.text, generation.input_tokens, generation.output_tokens) == ("Lima.", 12, 5)


def test_bedrock_applies_the_configured_guardrail():
    runtime = client("bedrock-runtime")
    settings = SETTINGS.with_overrides(BEDROCK_GUARDRAIL_IDENTIFIER="gr-123",
                                       BEDROCK_GUARDRAIL_VERSION="2")
    with Stubber(runtime) as stub:
        stub.add_response("converse", converse_reply("ok"), {
            "modelId": ANY, "messages": ANY,
            "guardrailConfig": {"guardrailIdentifier": "gr-123", "guardrailVersion": "2"}})
        BedrockLLM(runtime).generate(Prompt("hi"), timeout=5, settings=settings)


def test_a_bedrock_error_becomes_an_llm_error_naming_the_model_and_cause():
    runtime = client("bedrock-runtime")
    with Stubber(runtime) as stub:
        stub.add_client_error("converse", "ThrottlingException", "Too many requests")
        with pytest.raises(LLMError, match="ThrottlingException: Too many requests"):
            BedrockLLM(runtime).generate(Prompt("hi"), timeout=5, settings=SETTINGS)


def test_a_bedrock_reply_without_text_is_an_error():
    runtime = client("bedrock-runtime")
    with Stubber(runtime) as stub:
        stub.add_response("converse", {**converse_reply(""), "stopReason": "max_tokens"})
        with pytest.raises(LLMError, match="no text"):
            BedrockLLM(runtime).generate(Prompt("hi"), timeout=5, settings=SETTINGS)


class FakeLambda:
    """A Lambda client returning a fixed reply, recording the payloads sent."""

    def __init__(self, reply, function_error=None):
        self.reply, self.function_error, self.payloads = reply, function_error, []

    def invoke(self, **kwargs):
        self.payloads.append(json.loads(kwargs["Payload"]))
        response = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.reply).encode())}
        if self.function_error:
            response["FunctionError"] = self.function_error
        return response


def test_the_lambda_plugin_gets_prompt_parameters_and_settings():
    fake = FakeLambda({"generated_text": "Lima."})
    llm = LambdaLLM("arn:aws:lambda:us-east-1:1:function:qna-llm", fake)
    generation = llm.generate(Prompt("Capital?", "Be brief.", {"temperature": 0.1}), timeout=5,
                              settings=SETTINGS.with_overrides(EMPTYMESSAGE="none"))
    assert generation.text == "Lima."
    payload = fake.payloads[0]
    assert payload["prompt"] == "Capital?"
    assert payload["parameters"] == {"temperature": 0.1, "system": "Be brief."}
    assert payload["settings"]["EMPTYMESSAGE"] == "none"


def test_a_lambda_plugin_error_message_becomes_a_clear_error():
    fake = FakeLambda({"errorMessage": "model not enabled", "errorType": "ValidationError"},
                      function_error="Unhandled")
    with pytest.raises(LLMError, match="qna-llm failed: ValidationError: model not enabled"):
        LambdaLLM("qna-llm", fake).generate(Prompt("x"), timeout=5, settings=SETTINGS)


def test_a_lambda_plugin_reply_without_generated_text_is_an_error():
    with pytest.raises(LLMError, match='no "generated_text"'):
        LambdaLLM("qna-llm", FakeLambda({"text": "x"})).generate(Prompt("x"), timeout=5,
                                                                 settings=SETTINGS)


def test_a_hanging_llm_is_abandoned_at_the_time_limit():
    llm = ScriptedLLM([HANG])
    try:
        with pytest.raises(LLMTimeout, match="within 0.05 s"):
            generate_within(llm, Prompt("x"), 0.05, SETTINGS)
    finally:
        llm.release()


def test_llm_api_selects_the_adapter():
    assert open_llm({}).name == "DISABLED"
    assert open_llm({"LLM_API": "bedrock"}).name == "BEDROCK"
    assert open_llm({"LLM_API": "LAMBDA", "LLM_LAMBDA_ARN": "qna-llm"}).name == "LAMBDA"
    with pytest.raises(ValueError, match="LLM_LAMBDA_ARN"):
        open_llm({"LLM_API": "LAMBDA"})
    with pytest.raises(ValueError, match="not one of"):
        open_llm({"LLM_API": "GPT"})


class FakeBedrockStream:
    """A bedrock-runtime client whose converse_stream returns fixed events."""

    def __init__(self, events):
        self.events, self.requests = events, []

    def converse_stream(self, **request):
        self.requests.append(request)
        return {"stream": iter(self.events)}


def test_bedrock_streams_the_text_deltas_of_converse_stream():
    client = FakeBedrockStream([
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "Humpty "}, "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"text": "sat on a wall."}, "contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {"usage": {"inputTokens": 9, "outputTokens": 6}}}])
    pieces = list(BedrockLLM(client).stream(Prompt("Where?", "Be brief"), timeout=5,
                                            settings=SETTINGS))
    assert pieces == ["Humpty ", "sat on a wall."]
    assert client.requests[0]["system"] == [{"text": "Be brief"}]


def test_an_error_event_in_the_bedrock_stream_is_an_llm_error():
    client = FakeBedrockStream([
        {"contentBlockDelta": {"delta": {"text": "Hum"}}},
        {"throttlingException": {"message": "Too many tokens"}}])
    with pytest.raises(LLMError, match="throttlingException: Too many tokens"):
        list(BedrockLLM(client).stream(Prompt("Where?"), timeout=5, settings=SETTINGS))


def test_a_lambda_plugin_streams_its_whole_reply_at_once():
    plugin = FakeLambda({"generated_text": "On a wall."})
    assert list(LambdaLLM("arn:aws:lambda:us-east-1:1:function:qna-llm", plugin).stream(
        Prompt("Where?"), timeout=5, settings=SETTINGS)) == ["On a wall."]
