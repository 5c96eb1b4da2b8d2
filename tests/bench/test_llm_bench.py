"""The LLM benchmark: the bot's own prompts, streamed latency figures, and their report
(against the recorded OpenAI-compatible double: no model)."""

from __future__ import annotations

import pytest

from bench.llm_bench import latency, qa_prompts, rewrite_prompts
from bench.run import llm_markdown
from knowledge.settings import Settings
from tests.fulfillment.openai_double import OpenAIDouble, Reply, recorded


@pytest.fixture
def double():
    server = OpenAIDouble([Reply(body=recorded("llama_server_chat_completion_stream.txt"),
                                 content_type="text/event-stream")]).start()
    yield server
    server.stop()


def test_the_prompts_are_the_bots_rewrite_and_answer_prompts():
    settings = Settings.defaults()
    rewrites, answers = rewrite_prompts(settings, 2), qa_prompts(settings, 2)
    assert len(rewrites) == len(answers) == 2
    assert "<latest_message>\nHow do I buy a ticket in it?" in rewrites[0].text
    assert "Human: What is the HCT Go app?" in rewrites[0].text
    assert "battery-electric" in answers[0].text and "<passages>" in answers[0].text
    assert answers[0].system == settings.get("LLM_QA_SYSTEM_PROMPT")


def test_latency_of_a_configured_server_is_measured_and_reported(double):
    result = latency(2, {"LLM_API": "OPENAI", "LLM_OPENAI_BASE_URL": double.base_url})
    assert result["llm"].startswith("OPENAI, model (server default) at http://127.0.0.1:")
    for kind in ("rewrite", "qa"):
        assert result[kind]["calls"] == 2 and result[kind]["errors"] == []
        assert len(result[kind]["first_token_ms"]) == 2
    assert all(r["json"]["stream"] for r in double.requests)
    result["quality"] = {"turns": 26, "latency_ms": {"median": 900.0, "p95": 2000.0},
                         "llm": {"llm_calls_per_turn": 0.81,
                                 "llm_ms_per_call": {"median": 700.0, "p95": 1500.0},
                                 "follow_up_hit_rate": 0.857, "self_contained_kept": 1.0,
                                 "cited_rate": 0.833, "no_hit_rate": 0.75}}
    report = "\n".join(llm_markdown(result))
    assert "| LLM calls per turn | 0.81 |" in report
    assert "| time per LLM call, median / p95 ms | 700.0 / 1,500.0 |" in report
    assert "| rewrite | 2 |" in report


def test_without_a_measured_llm_the_report_says_how_to_add_it():
    assert "BENCH_LLM=LOCAL make bench" in "\n".join(llm_markdown({}))
