"""Labeled conversations through the fulfillment handler: the runner behind ``qnabot eval``
and the designer's "test all"."""

from __future__ import annotations

import pytest

from content_designer.evaluation import knowledge_base_search
from fulfillment.evaluation import (
    NO_ANSWER_TOPIC,
    NO_TOPIC,
    CandidateRecorder,
    ConversationRunner,
)
from fulfillment.handler import Outcome
from fulfillment.lex_event import parse_event
from fulfillment.llm.scripted import ScriptedLLM
from fulfillment.model import Answer, TurnDebug, TurnResult
from knowledge.embeddings.hashing import HashingEmbeddings
from knowledge.evaluation import Conversation, EvalTurn, Expected, summarize
from knowledge.items import parse_item
from knowledge.knowledge_base import KnowledgeBase
from knowledge.settings import Settings
from knowledge.stores.sqlite_store import SqliteStore

ITEMS = [
    {"qid": "Ferry.About", "q": ["What is the Harbor Ferry?"], "a": "A boat across the bay.",
     "t": "ferry"},
    {"qid": "Ferry.Cost", "q": ["How much is the Harbor Ferry fare?", "How much does it cost?"],
     "a": "The ferry costs 4 dollars.", "t": "ferry"},
    {"qid": "Bus.About", "q": ["What is the Night Bus?"], "a": "Buses that run at night.",
     "t": "bus"},
    {"qid": "Bus.Cost", "q": ["How much is the Night Bus fare?", "How much does it cost?"],
     "a": "The night bus costs 2 dollars.", "t": "bus"},
    {"qid": "Rules.Conduct", "type": "text", "t": "rules",
     "passage": "Riders must not eat hot food, play loud music or block the doors on board."},
    {"qid": "CustomNoMatches", "q": ["no_hits"], "a": "Sorry, I don't know that."},
]


def conversation(cid: str, *turns: tuple[str, Expected], category: str = "") -> Conversation:
    return Conversation(cid, category, tuple(EvalTurn(q, e) for q, e in turns))


def item(qid: str) -> Expected:
    return Expected(qid=qid)


NO_ANSWER = Expected(qid=None, source=None)


@pytest.fixture
def kb(tmp_path) -> KnowledgeBase:
    kb = KnowledgeBase(SqliteStore(tmp_path / "kb.sqlite"), HashingEmbeddings())
    kb.put_items([parse_item(raw) for raw in ITEMS])
    return kb


def test_a_follow_up_gets_the_item_of_the_topic_set_by_the_previous_answer(kb):
    runner = ConversationRunner.over(kb, Settings.defaults())
    outcomes = runner.run([
        conversation("ferry", ("What is the Harbor Ferry?", item("Ferry.About")),
                     ("How much does it cost?", item("Ferry.Cost"))),
        conversation("bus", ("What is the Night Bus?", item("Bus.About")),
                     ("How much does it cost?", item("Bus.Cost"))),
    ])
    assert [o.qid for o in outcomes] == ["Ferry.About", "Ferry.Cost", "Bus.About", "Bus.Cost"]
    assert all(o.correct for o in outcomes)


def test_each_turn_gets_the_previous_responses_session_attributes_in_a_fresh_session(kb):
    seen: list[tuple[str, dict]] = []

    def fulfill(event, context) -> Outcome:
        attributes = dict(event["sessionState"]["sessionAttributes"])
        seen.append((event["sessionId"], attributes))
        turn = TurnResult(parse_event(event), Answer("ok", "qna", qid="A.1"), TurnDebug())
        count = int(attributes.get("count", "0")) + 1
        return Outcome({"sessionState": {"sessionAttributes": {**attributes,
                                                               "count": str(count)}}}, turn)

    runner = ConversationRunner(fulfill, CandidateRecorder(kb))
    runner.run([conversation("one", ("a", item("A.1")), ("b", item("A.1")), ("c", item("A.1"))),
                conversation("two", ("d", item("A.1")))])
    assert [attributes.get("count") for _, attributes in seen] == [None, "1", "2", None]
    sessions = [session for session, _ in seen]
    assert sessions[0] == sessions[1] == sessions[2] != sessions[3]


def test_candidates_of_the_turns_search_give_the_rank_of_the_expected_item(kb):
    outcome, = ConversationRunner.over(kb, Settings.defaults()).run([
        conversation("c", ("How much is the Harbor Ferry fare?", item("Bus.Cost")))])
    assert outcome.qid == "Ferry.Cost" and not outcome.correct
    assert outcome.ranked_qids[0] == "Ferry.Cost"
    assert "Bus.Cost" in outcome.ranked_qids[1:]
    assert 0 < outcome.reciprocal_rank < 1


def test_the_no_hits_answer_counts_as_no_answer(kb):
    outcome, = ConversationRunner.over(kb, Settings.defaults()).run([
        conversation("c", ("zebra quantum saxophone", NO_ANSWER))])
    assert outcome.qid is None and outcome.source == "no_hits"
    assert outcome.correct and not outcome.answered


def test_latency_and_llm_calls_are_recorded_per_turn(kb):
    llm = ScriptedLLM(["Hot food and loud music are not allowed."])
    settings = Settings.from_overrides({"LLM_QA_ENABLE": "true"})
    outcome, = ConversationRunner.over(kb, settings, llm=llm).run([
        conversation("c", ("Riders must not eat hot food or play loud music on board?",
                           Expected(qid="Rules.Conduct", source="text")))])
    assert outcome.source == "text" and outcome.correct
    assert outcome.llm_calls == len(llm.calls) == 1
    assert outcome.latency_ms > 0
    assert summarize([outcome])["llm_calls_per_turn"] == 1


def test_results_per_topic_follow_the_expected_items_topic(kb):
    runner = ConversationRunner.over(kb, Settings.defaults())
    conversations = [conversation("a", ("What is the Harbor Ferry?", item("Ferry.About"))),
                     conversation("b", ("What is the Night Bus?", item("Ferry.Cost"))),
                     conversation("c", ("zebra quantum saxophone", NO_ANSWER))]
    report = runner.evaluate(conversations)
    by_topic = report.summary()["by_topic"]
    assert set(by_topic) == {"ferry", NO_ANSWER_TOPIC}
    assert (by_topic["ferry"]["turns"], by_topic["ferry"]["accuracy"]) == (2, 0.5)
    assert by_topic[NO_ANSWER_TOPIC]["no_hit_recall"] == 1.0


def test_an_expected_qid_missing_from_the_knowledge_base_is_counted_without_a_topic(kb):
    report = ConversationRunner.over(kb, Settings.defaults()).evaluate(
        [conversation("a", ("What is the Harbor Ferry?", item("Deleted.1")))])
    assert list(report.by_topic()) == [NO_TOPIC]


def test_test_all_answers_a_question_as_a_new_conversation_through_the_same_runner(kb):
    search = knowledge_base_search(kb, Settings.defaults())
    assert search("What is the Harbor Ferry?")[:1] == ("Ferry.About",)
    assert search("What is the Harbor Ferry?")[2] == "qna"
    # No topic is carried between questions: each is asked in a new session.
    assert search("zebra quantum saxophone") is None
