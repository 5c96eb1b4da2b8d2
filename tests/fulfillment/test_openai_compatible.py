"""The OpenAI-compatible adapter against a recorded llama.cpp server double over HTTP, and
against the real local model when it is installed (slow)."""

from __future__ import annotations

import socket

import pytest

from fulfillment.llm import open_llm
from fulfillment.llm.base import LLMError, Prompt, generate_within
from fulfillment.llm.openai_compatible import OpenAICompatibleLLM
from knowledge.settings import Settings

from .openai_double import OpenAIDouble, Reply, recorded

SETTINGS = Settings.defaults()
REWRITE = Prompt("<conversation>Human: Who was Humpty Dumpty?</conversation> Where did he sit?",
                 "You rewrite follow-up questions.", {"temperature": 0, "maxTokens": 64,
                                                      "stop_sequences": ["\n\n"], "top_k": 20})


@pytest.fixture
def double():
    server = OpenAIDouble([Reply(body=recorded("llama_server_chat_completion.json"))]).start()
    yield server
    server.stop()


def test_a_completion_sends_model_messages_parameters_and_key(double):
    llm = OpenAICompatibleLLM(double.base_url, model="qwen2.5-coder", api_key="sk-local")
    generation = llm.generate(REWRITE, timeout=5, settings=SETTINGS)
    assert generation.text == "Where did Humpty Dumpty sit?"
    assert (generation.input_tokens, generation.output_tokens) == (139, 9)
    sent = double.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == "Bearer sk-local"
    assert sent["json"] == {
        "model": "qwen2.5-coder",
        "messages": [{"role": "system", "content": "You rewrite follow-up questions."},
                     {"role": "user", "content": REWRITE.text}],
        "temperature": 0, "max_tokens": 64, "stop": ["\n\n"], "top_k": 20}


def test_no_key_means_no_authorization_header_and_a_default_model_name(double):
    OpenAICompatibleLLM(double.base_url + "/").generate(Prompt("hi"), timeout=5,
                                                        settings=SETTINGS)
    sent = double.requests[0]
    assert "Authorization" not in sent["headers"]
    assert sent["json"]["model"] == "default"
    assert sent["json"]["messages"] == [{"role": "user", "content": "hi"}]


def test_streaming_yields_the_recorded_deltas_until_done(double):
    double.replies = [Reply(body=recorded("llama_server_chat_completion_stream.txt"),
                            content_type="text/event-stream")]
    pieces = list(OpenAICompatibleLLM(double.base_url).stream(REWRITE, timeout=5,
                                                               settings=SETTINGS))
    assert pieces[:3] == ["Where", " did", " Hum"]
    assert "".join(pieces) == "Where did Humpty Dumpty sit?"
    assert double.requests[0]["json"]["stream"] is True


def test_generate_within_streams_the_text_so_far_to_a_listener(double):
    double.replies = [Reply(body=recorded("llama_server_chat_completion_stream.txt"),
                            content_type="text/event-stream")]
    seen: list[str] = []
    generation = generate_within(OpenAICompatibleLLM(double.base_url), REWRITE, 5, SETTINGS,
                                 on_text=seen.append)
    assert generation.text == "Where did Humpty Dumpty sit?"
    assert seen[0] == "Where" and seen[-1] == generation.text
    assert generation.first_text_ms is not None


def test_an_http_error_names_the_server_status_and_message(double):
    double.replies = [Reply(404, b'{"error": {"code": 404, "message": "model \\"llama9\\" not '
                                 b'found", "type": "not_found_error"}}')]
    llm = OpenAICompatibleLLM(double.base_url, model="llama9")
    with pytest.raises(LLMError, match=r'answered HTTP 404: model "llama9" not found'):
        llm.generate(Prompt("hi"), timeout=5, settings=SETTINGS)
    with pytest.raises(LLMError, match="HTTP 404"):
        list(llm.stream(Prompt("hi"), timeout=5, settings=SETTINGS))


def test_an_error_event_in_the_stream_is_an_llm_error(double):
    double.replies = [Reply(body=b'data: {"choices":[{"delta":{"content":"Wh"}}]}\n\n'
                                 b'data: {"error": {"message": "context overflow"}}\n\n',
                            content_type="text/event-stream")]
    stream = OpenAICompatibleLLM(double.base_url).stream(Prompt("hi"), timeout=5,
                                                         settings=SETTINGS)
    assert next(stream) == "Wh"
    with pytest.raises(LLMError, match="context overflow"):
        next(stream)


@pytest.mark.parametrize("body, problem", [
    (b"<html>gateway</html>", "invalid JSON"),
    (b'{"choices": []}', "without choices"),
    (b'{"choices": [{"message": {"content": ""}, "finish_reason": "length"}]}', "no text"),
])
def test_an_unusable_reply_is_an_llm_error(double, body, problem):
    double.replies = [Reply(body=body)]
    with pytest.raises(LLMError, match=problem):
        OpenAICompatibleLLM(double.base_url).generate(Prompt("hi"), timeout=5, settings=SETTINGS)


def test_an_unreachable_server_is_an_llm_error_naming_it():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    llm = OpenAICompatibleLLM(f"http://127.0.0.1:{port}/v1")
    with pytest.raises(LLMError, match=f"cannot reach the OPENAI LLM at http://127.0.0.1:{port}"):
        llm.generate(Prompt("hi"), timeout=2, settings=SETTINGS)


def test_open_llm_builds_the_adapter_from_the_environment():
    llm = open_llm({"LLM_API": "openai", "LLM_OPENAI_BASE_URL": "http://127.0.0.1:11434/v1",
                    "LLM_OPENAI_MODEL": "qwen2.5:1.5b", "LLM_OPENAI_API_KEY": "k"})
    assert (llm.name, llm.url, llm.model) == ("OPENAI", "http://127.0.0.1:11434/v1/chat/completions",
                                              "qwen2.5:1.5b")
    assert open_llm({"LLM_API": "LOCAL"}).name == "LOCAL"


@pytest.mark.parametrize("env, problem", [
    ({"LLM_API": "OPENAI"}, "needs LLM_OPENAI_BASE_URL"),
    ({"LLM_API": "OPENAI", "LLM_OPENAI_BASE_URL": "localhost:8080"}, "must start with http"),
    ({"LLM_API": "GPT"}, "not one of DISABLED, LOCAL, OPENAI, BEDROCK, LAMBDA"),
])
def test_a_misconfigured_openai_backend_says_what_to_set(env, problem):
    with pytest.raises(ValueError, match=problem):
        open_llm(env)
