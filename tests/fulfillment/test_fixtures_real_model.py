"""The tutorial's questions and the demo's "did you mean" buttons, through ``lambda_handler``
with the real local model."""

from __future__ import annotations

from pathlib import Path

import pytest

from fulfillment import handler
from fulfillment.handler import lambda_handler
from knowledge.embeddings.local import default_model_dir, missing_export_files

from .conftest import FIXTURES
from .lex_events import LexConversation

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


def _home_with(tmp_path, monkeypatch, files):
    """A local QnABot home holding ``files``, served by the handler with the real model."""
    if missing_export_files(default_model_dir()):
        pytest.skip("the exported ONNX model is missing; run `make install`")
    monkeypatch.setenv("QNABOT_HOME", str(tmp_path / "home"))
    for name in ("EMBEDDINGS_API", "LLM_API", "USERS_TABLE", "SETTINGS_TABLE", "QNABOT_STORE"):
        monkeypatch.delenv(name, raising=False)
    from knowledge.backends import open_knowledge_base
    from knowledge.importer import import_files

    kb = open_knowledge_base()
    import_files(kb, files)
    kb.wait_for_classifier()
    handler.set_service(None)


@pytest.fixture
def real_home(tmp_path, monkeypatch):
    _home_with(tmp_path, monkeypatch, [FIXTURES / "blog-samples-final.json",
                                       FIXTURES / "TextPassage-NurseryRhymeExamples.json"])
    yield
    handler.set_service(None)


@pytest.fixture
def demo_home(tmp_path, monkeypatch):
    """The demo knowledge base (Harbor City Transit)."""
    _home_with(tmp_path, monkeypatch, [DEMO / "hct-qna.json", DEMO / "hct-passages.json"])
    yield
    handler.set_service(None)


def qid_of(response):
    return response["sessionState"]["sessionAttributes"]["qnabot_qid"]


def test_the_tutorial_questions_get_the_tutorial_answers(real_home):
    ask = LexConversation(lambda_handler, session_id="tutorial").ask
    assert qid_of(ask("Tell me about the Alexa device with the screen")) == "Alexa.001"
    assert qid_of(ask("Tell me about Amazon's video streaming device?")) == "FireTV.001"
    humpty = ask("Where did Humpty Dumpty sit before he fell?")
    assert qid_of(humpty) == "0.HumptyDumpty"
    assert humpty["messages"][0]["content"].startswith("Humpty Dumpty sat on the wall")
    assert qid_of(ask("What happened after he fell? Was he OK?")) == "0.HumptyDumpty"
    peru = ask("What is the capital of Peru?")
    assert peru["sessionState"]["sessionAttributes"]["qnabot_gotanswer"] == "false"
    assert qid_of(peru) == "CustomNoMatches"


def test_a_question_the_passage_answers_without_enough_confidence_is_one_tap_away(demo_home):
    # The example: the fare-evasion passage holds 59% of the confidence (70% answers),
    # so the bot does not answer on its own, but offers the passage first among its buttons.
    conversation = LexConversation(lambda_handler, session_id="evasion")
    reply = conversation.ask("What is the fare evasion penalty?")
    assert qid_of(reply) == "CustomNoMatches"
    card = next(m["imageResponseCard"] for m in reply["messages"]
                if m["contentType"] == "ImageResponseCard")
    assert card["buttons"][0] == {"text": "Fare Evasion Penalty Schedule",
                                  "value": "QID::Fares.EvasionPenalties"}
    tapped = conversation.ask(card["buttons"][0]["value"])
    assert qid_of(tapped) == "Fares.EvasionPenalties"
    assert "$75" in tapped["messages"][0]["content"]
