"""QnABot's functional check with the embedded model, when it is installed (slow: loads the
real embeddings and the 1.1 GB LLM, and generates on the CPU).

"Who was Humpty Dumpty?" then "Where did he sit?": the answer names Humpty Dumpty and the wall,
and the debug output shows the LLM-generated query. The turns go through the local chat's
streaming route (``POST chat/stream``'s generator) and the Lex handler, as `make run` serves
them.
"""

from __future__ import annotations

import json

import pytest

from fulfillment import handler
from fulfillment.llm.local_model import ModelError, verified_model
from knowledge.embeddings.local import default_model_dir, missing_export_files

from .conftest import FIXTURES

pytestmark = pytest.mark.slow


@pytest.fixture
def local_llm_home(tmp_path, monkeypatch):
    if missing_export_files(default_model_dir()):
        pytest.skip("the exported ONNX model is missing; run `make install`")
    try:
        verified_model()
    except ModelError as exc:
        pytest.skip(f"the local LLM is not installed ({exc})")
    pytest.importorskip("xllamacpp")
    monkeypatch.setenv("QNABOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LLM_API", "LOCAL")
    for name in ("EMBEDDINGS_API", "USERS_TABLE", "SETTINGS_TABLE", "QNABOT_STORE"):
        monkeypatch.delenv(name, raising=False)
    from knowledge.backends import open_knowledge_base, open_settings_repo
    from knowledge.importer import import_files

    import_files(open_knowledge_base(), [FIXTURES / "TextPassage-NurseryRhymeExamples.json"])
    open_settings_repo(tmp_path / "home").save({"ENABLE_DEBUG_RESPONSES": "true"})
    handler.set_service(None)
    handler.warm_up()
    yield
    handler.set_service(None)
    from fulfillment.llm.llama_server import stop_shared_server

    stop_shared_server()


def streamed(chat, text):
    from content_designer.streaming import stream_turn

    events = [event.decode().split("\n", 2) for event in
              stream_turn(chat, text, session_id="functional-check")]
    return [(kind[len("event: "):], json.loads(data[len("data: "):])) for kind, data, _ in events]


def test_humpty_dumpty_follow_up_is_rewritten_and_answered(local_llm_home):
    from content_designer.chat import ChatService

    chat = ChatService(handler.lambda_handler)
    first = streamed(chat, "Who was Humpty Dumpty?")
    assert first[-1][0] == "final"
    second = streamed(chat, "Where did he sit?")
    kind, reply = second[-1]
    assert kind == "final"
    text = reply["display"]["text"]
    assert "Generated query:" in text, text
    assert "Humpty Dumpty" in text.split("Generated query:", 1)[1], text
    answer = text.split("]", 1)[1]
    assert "Humpty Dumpty" in answer and "wall" in answer.lower(), text
