"""``qnabot ask`` and ``qnabot chat`` answer through the fulfillment Lambda handler."""

from __future__ import annotations

import io
import json

import pytest

from fulfillment import handler
from tests.shared_fixtures import FIXTURES


@pytest.fixture
def loaded(home, qnabot, monkeypatch):
    """A home with the public fixtures imported, and a handler built for this home."""
    monkeypatch.delenv("LLM_API", raising=False)
    monkeypatch.delenv("USERS_TABLE", raising=False)
    handler.set_service(None)
    assert qnabot("import", FIXTURES / "blog-samples-final.json",
                  FIXTURES / "TextPassage-NurseryRhymeExamples.json").code == 0
    yield qnabot
    handler.set_service(None)


def ask_json(qnabot, *argv):
    run = qnabot("ask", *argv, "--json")
    assert run.code == 0, run.err
    return json.loads(run.out)


def test_ask_prints_the_answer(loaded):
    run = loaded("ask", "What is an Amazon Echo Show")
    assert run.code == 0
    assert run.out.startswith("Echo Show brings you everything you love about Alexa")
    assert "1. QnABot (What is Q and A bot?)" in run.out  # the card's buttons, numbered
    assert '"level"' not in run.out  # log records never mix into the answer


def test_ask_json_has_every_field(loaded):
    data = ask_json(loaded, "What is an Amazon Echo Show")
    assert {"answer", "markdown", "ssml", "qid", "source", "score", "topic", "citations",
            "got_hits", "debug"} <= set(data)
    assert (data["qid"], data["source"], data["topic"], data["got_hits"]) == (
        "Alexa.001", "qna", "EchoShow", True)
    assert data["ssml"].startswith("<speak>")
    assert {"search_string", "generated_query", "timings_ms", "llm_calls"} <= set(data["debug"])


def test_ask_json_for_no_answer_has_a_null_qid_and_names_the_no_hits_item(loaded):
    data = ask_json(loaded, "What is the capital of Peru?")
    assert (data["source"], data["got_hits"], data["qid"]) == ("no_hits", False, None)
    assert data["item_qid"] == "CustomNoMatches"
    assert data["answer"].startswith("You stumped me")


def test_the_same_session_continues_a_conversation_across_invocations(loaded):
    ask_json(loaded, "What is an Amazon Echo Show", "--session", "echo")
    ask_json(loaded, "QID::QnABot.001", "--session", "qnabot")
    echo = ask_json(loaded, "How much does it cost?", "--session", "echo")
    qnabot = ask_json(loaded, "How much does it cost?", "--session", "qnabot")
    assert (echo["qid"], echo["topic"]) == ("Alexa.Cost", "EchoShow")
    assert (qnabot["qid"], qnabot["topic"]) == ("QnABot.Cost", "QnABot")


def test_voice_channel_answers_in_ssml(loaded):
    data = ask_json(loaded, "What is an Amazon Echo Show", "--channel", "voice")
    assert data["messages"][0]["contentType"] == "SSML"


def test_an_empty_question_is_refused_with_a_hint(loaded):
    run = loaded("ask", "  ")
    assert run.code == 2 and "the question is empty" in run.err


def test_chat_answers_each_line_and_keeps_the_topic(loaded, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(
        "What is an Amazon Echo Show\n\nHow much does it cost?\n/quit\nnever asked\n"))
    run = loaded("chat")
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[0].startswith("Echo Show brings you")
    assert "For latest prices on the Echo Show" in run.out
    assert "never asked" not in run.out


def test_chat_asks_a_buttons_value_when_its_number_is_typed(loaded, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("What is an Amazon Echo Show\n1\n/quit\n"))
    run = loaded("chat")
    assert run.code == 0
    # Button 1 of the Echo Show card asks "What is Q and A bot?": the QnABot item answers.
    assert "The Q and A Bot uses Amazon Lex and Alexa" in run.out
