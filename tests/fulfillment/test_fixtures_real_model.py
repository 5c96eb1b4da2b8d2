"""The tutorial's questions, answered through ``lambda_handler`` with the real local model."""

from __future__ import annotations

import pytest

from fulfillment import handler
from fulfillment.handler import lambda_handler
from knowledge.embeddings.local import default_model_dir, missing_export_files

from .conftest import FIXTURES
from .lex_events import LexConversation

pytestmark = pytest.mark.slow


@pytest.fixture
def real_home(tmp_path, monkeypatch):
    if missing_export_files(default_model_dir()):
        pytest.skip("the exported ONNX model is missing; run `make install`")
    monkeypatch.setenv("QNABOT_HOME", str(tmp_path / "home"))
    for name in ("EMBEDDINGS_API", "LLM_API", "USERS_TABLE", "SETTINGS_TABLE", "QNABOT_STORE"):
        monkeypatch.delenv(name, raising=False)
    from knowledge.backends import open_knowledge_base
    from knowledge.importer import import_files

    kb = open_knowledge_base()
    import_files(kb, [FIXTURES / "blog-samples-final.json",
                      FIXTURES / "TextPassage-NurseryRhymeExamples.json"])
    handler.set_service(None)
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
