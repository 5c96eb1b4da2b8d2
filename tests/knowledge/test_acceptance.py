"""The tutorial's questions, answered with the real local model and the default settings."""

import json

import pytest

from knowledge.items import parse_item
from knowledge.knowledge_base import KnowledgeBase
from knowledge.settings import Settings
from knowledge.stores.sqlite_store import SqliteStore
from tests.shared_fixtures import FIXTURES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    from knowledge.embeddings.base import EmbeddingsError
    from knowledge.embeddings.local import LocalEmbeddings

    embeddings = LocalEmbeddings()
    try:
        embeddings.embed(["warm up"])
    except EmbeddingsError as exc:
        pytest.skip(f"the local model is not exported: {exc}")
    kb = KnowledgeBase(SqliteStore(tmp_path_factory.mktemp("kb") / "k.sqlite"), embeddings)
    kb.put_items(parse_item(raw) for name in ("blog-samples-final.json", "TextPassage-NurseryRhymeExamples.json")
                 for raw in json.loads((FIXTURES / name).read_text("utf-8-sig"))["qna"])
    return kb


@pytest.mark.parametrize("question,qid", [
    ("Tell me about the Alexa device with the screen", "Alexa.001"),
    ("Tell me about Amazon's video streaming device?", "FireTV.001"),
    ("Where did Humpty Dumpty sit before he fell?", "0.HumptyDumpty"),
    ("What can Q and A bot do", "QnABot.003"),
])
def test_tutorial_questions_get_their_items(kb, question, qid):
    assert kb.search(question, Settings.defaults()).best.item.qid == qid


@pytest.mark.parametrize("question", ["What is the capital of Peru?", "How do I fly a plane?"])
def test_questions_the_content_does_not_cover_get_no_answer(kb, question):
    assert kb.search(question, Settings.defaults()).best is None


def test_a_follow_up_without_an_llm_is_matched_with_the_previous_question(kb):
    result = kb.search("What happened after he fell? Was he OK?", Settings.defaults(),
                       context="Where did Humpty Dumpty sit before he fell?")
    assert result.best.item.qid == "0.HumptyDumpty" and result.context_used


def test_follow_ups_pick_the_item_of_the_session_topic(kb):
    assert kb.search("How much does it cost?", Settings.defaults(), topic="EchoShow").best.item.qid == "Alexa.Cost"
    assert kb.search("How much does it cost?", Settings.defaults(), topic="QnABot").best.item.qid == "QnABot.Cost"
