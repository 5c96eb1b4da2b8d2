"""The answer cascade, generative answers, fallbacks and hooks, through the turn pipeline."""

from __future__ import annotations

import pytest

from fulfillment.llm.base import Generation, LLMError
from fulfillment.llm.scripted import HANG, ScriptedLLM
from fulfillment.model import Request
from fulfillment.retrieval import RetrievalError, RetrievedPassage

from .conftest import build_kb, make_pipeline

BO_PEEP = "What did Little Bo-Peep lose?"
#: Matches nothing in the test content (with the test embeddings).
PERU = "Name the capital city of Peru"


def ask(pipeline, settings, text, session="s1", **request_fields):
    return pipeline.run(Request(session_id=session, transcript=text, **request_fields),
                        settings)


class FakeRetriever:
    """A retriever that returns fixed passages (or raises) and records its queries."""

    def __init__(self, source, passages=(), error=None):
        self.source = source
        self.passages = list(passages)
        self.error = error
        self.queries = []

    def configured(self, settings):
        return True

    def retrieve(self, query, settings):
        self.queries.append(query)
        if self.error:
            raise self.error
        return list(self.passages)


KENDRA_PASSAGES = [
    RetrievedPassage("Peru's capital is Lima, on the Pacific coast.", title="Peru facts",
                     url="https://example.com/peru"),
    RetrievedPassage("Lima was founded in 1535.", title="Lima history",
                     url="https://example.com/lima"),
]


# --- curated answers ------------------------------------------------------------------------


def test_a_curated_answer_is_given_as_written_and_never_sent_to_the_llm(kb, settings):
    llm = ScriptedLLM(["REWRITTEN BY LLM"])
    turn = ask(make_pipeline(kb, llm), settings, "What is an Amazon Echo Show")
    assert turn.answer.qid == "Alexa.001"
    assert turn.answer.source == "qna"
    assert turn.answer.text.startswith("Echo Show brings you everything")
    assert not turn.answer.generated
    assert llm.calls == []


def test_the_answered_items_topic_becomes_the_session_topic(kb, settings):
    turn = ask(make_pipeline(kb), settings, "What is an Amazon Echo Show")
    assert turn.topic == "EchoShow"


def test_a_follow_up_without_an_llm_is_answered_from_the_session_topic(kb, settings):
    pipeline = make_pipeline(kb)
    echo = ask(pipeline, settings, "How much does it cost?",
               session_attributes={"qnabotcontext": {"topic": "EchoShow"}})
    qnabot = ask(pipeline, settings, "How much does it cost?",
                 session_attributes={"qnabotcontext": {"topic": "QnABot"}})
    assert (echo.answer.qid, qnabot.answer.qid) == ("Alexa.Cost", "QnABot.Cost")


def test_a_qid_intent_answers_that_item_without_searching(kb, settings):
    turn = ask(make_pipeline(kb), settings, "anything at all", qid="Admin.001")
    assert turn.answer.qid == "Admin.001"
    assert turn.debug.search_string == "QID::Admin.001"


def test_a_qid_question_answers_that_item(kb, settings):
    assert ask(make_pipeline(kb), settings, "QID::FireTV.001").answer.qid == "FireTV.001"


def test_a_qid_question_for_a_missing_item_gets_the_no_hits_answer(kb, settings):
    turn = ask(make_pipeline(kb), settings, "QID::Nope.404")
    assert (turn.answer.source, turn.answer.qid) == ("no_hits", "CustomNoMatches")


def test_a_qid_intent_for_a_deleted_item_answers_the_words_instead(kb, settings):
    turn = ask(make_pipeline(kb), settings, "What is an Amazon Echo Show", qid="Gone.001")
    assert turn.answer.qid == "Alexa.001"


def test_an_items_session_attributes_and_card_go_with_its_answer(tmp_path, settings):
    kb = build_kb(tmp_path / "k.sqlite", [
        {"qid": "Card.1", "q": ["Show me the card"], "a": "Here it is.",
         "sa": [{"text": "department", "value": "sales", "enableTemplating": False}],
         "r": {"title": "A card", "buttons": [{"text": "Yes", "value": "yes please"}]}}],
        fixtures=False)
    answer = ask(make_pipeline(kb), settings, "Show me the card").answer
    assert answer.session_attributes == {"department": "sales"}
    assert answer.card.title == "A card"
    assert [(b.text, b.value) for b in answer.card.buttons] == [("Yes", "yes please")]


# --- text passages --------------------------------------------------------------------------


def test_without_an_llm_a_passage_answers_as_is_with_its_source_link(kb, settings):
    turn = ask(make_pipeline(kb), settings, BO_PEEP)
    answer = turn.answer
    assert (answer.source, answer.qid) == ("text", "0.BoPeep")
    assert answer.text.startswith("Little Bo-Peep has lost her sheep")
    assert "[Little Bo Beep](https://en.wikipedia.org/wiki/Little_Bo-Peep)" in answer.markdown
    assert [c.url for c in answer.citations] == ["https://en.wikipedia.org/wiki/Little_Bo-Peep"]
    assert answer.card.title == "Bo Peep"


def test_with_an_llm_a_passage_hit_is_answered_by_the_llm_with_citations(kb, settings):
    llm = ScriptedLLM(["She lost her sheep."])
    answer = ask(make_pipeline(kb, llm), settings, BO_PEEP).answer
    assert answer.generated and answer.source == "text"
    assert answer.text == "LLM Answer: She lost her sheep."
    assert answer.markdown.startswith("**LLM Answer:**\n\nShe lost her sheep.")
    assert "<details><summary>Context</summary>" in answer.markdown
    assert "Little Bo-Peep has lost her sheep" in answer.markdown
    assert "[Little Bo Beep](https://en.wikipedia.org/wiki/Little_Bo-Peep)" in answer.markdown
    assert answer.ssml == "<speak>She lost her sheep.</speak>"
    prompt = llm.calls[0]
    assert "Little Bo-Peep has lost her sheep" in prompt.text
    assert BO_PEEP in prompt.text
    assert prompt.system == settings.get("LLM_QA_SYSTEM_PROMPT")


def test_context_block_and_source_links_follow_their_settings(kb, settings):
    settings = settings.with_overrides(LLM_QA_SHOW_CONTEXT_TEXT=False,
                                       LLM_QA_SHOW_SOURCE_LINKS=False, LLM_QA_PREFIX_MESSAGE="")
    answer = ask(make_pipeline(kb, ScriptedLLM(["She lost her sheep."])), settings,
                 BO_PEEP).answer
    assert answer.markdown == "She lost her sheep."
    assert answer.text == "She lost her sheep."


def test_llm_qa_disabled_answers_with_the_passage(kb, settings):
    llm = ScriptedLLM(["She lost her sheep."])
    settings = settings.with_overrides(LLM_QA_ENABLE=False)
    answer = ask(make_pipeline(kb, llm), settings, BO_PEEP).answer
    assert not answer.generated and answer.text.startswith("Little Bo-Peep")
    assert llm.calls == []


def test_an_llm_reply_saying_it_does_not_know_goes_on_to_no_hits(kb, settings):
    turn = ask(make_pipeline(kb, ScriptedLLM(["Sorry, I don't know."])), settings, BO_PEEP)
    assert (turn.answer.source, turn.answer.qid) == ("no_hits", "CustomNoMatches")
    assert turn.answer.got_hits is False


@pytest.mark.parametrize("fault", [LLMError("ThrottlingException: slow down"),
                                   RuntimeError("boom"), HANG, Generation(None)],
                         ids=["llm-error", "crash", "timeout", "garbage"])
def test_a_failing_or_slow_llm_degrades_to_the_passage(kb, settings, fault):
    llm = ScriptedLLM([fault])
    settings = settings.with_overrides(LLM_TIMEOUT_SECONDS=0.2)
    try:
        turn = ask(make_pipeline(kb, llm), settings, BO_PEEP)
    finally:
        llm.release()
    assert turn.answer.source == "text" and not turn.answer.generated
    assert turn.answer.text.startswith("Little Bo-Peep has lost her sheep")
    assert turn.debug.llm_calls[0].ok is False
    assert turn.debug.degraded


def test_a_voice_turn_uses_the_voice_time_limit(kb, settings):
    llm = ScriptedLLM([HANG])
    settings = settings.with_overrides(LLM_TIMEOUT_SECONDS=60, LLM_VOICE_TIMEOUT_SECONDS=0.2)
    try:
        turn = ask(make_pipeline(kb, llm), settings, BO_PEEP, accepts_ssml=True)
    finally:
        llm.release()
    assert "within 0.2 s" in turn.debug.llm_calls[0].error
    assert turn.answer.source == "text"


def test_the_qa_prompt_fits_the_token_limit_by_dropping_history_first(kb, settings):
    from fulfillment.memory import InMemoryUserStore, Memory

    memory = Memory(InMemoryUserStore())
    for n in range(6):
        memory.record_turn("s1", "s1", f"old question {n} " + "filler " * 40, "old answer",
                           max_messages=12, ttl_days=1)
    llm = ScriptedLLM(["She lost her sheep."])
    settings = settings.with_overrides(LLM_PROMPT_MAX_TOKEN_LIMIT=400,
                                       LLM_GENERATE_QUERY_ENABLE=False)
    turn = ask(make_pipeline(kb, llm, memory=memory), settings, BO_PEEP)
    from fulfillment.prompts import count_tokens

    prompt = llm.calls[0]
    assert count_tokens(prompt.text) + count_tokens(prompt.system) <= 400
    assert "Little Bo-Peep has lost her sheep" in prompt.text  # context kept
    assert "old question 0" not in prompt.text  # oldest history dropped
    assert turn.answer.generated


# --- Kendra and the Bedrock knowledge base -------------------------------------------------


def test_kendra_answers_when_the_knowledge_base_has_nothing(kb, settings):
    kendra = FakeRetriever("kendra", KENDRA_PASSAGES)
    turn = ask(make_pipeline(kb, retrievers={"kendra": kendra}), settings,
               PERU)
    answer = turn.answer
    assert answer.source == "kendra" and answer.qid is None
    assert answer.text == "Peru's capital is Lima, on the Pacific coast."
    assert "[Peru facts](https://example.com/peru)" in answer.markdown
    assert kendra.queries == [PERU]


def test_kendra_passages_are_answered_by_the_llm_with_every_source_cited(kb, settings):
    llm = ScriptedLLM(["Lima is the capital of Peru."])
    kendra = FakeRetriever("kendra", KENDRA_PASSAGES)
    answer = ask(make_pipeline(kb, llm, retrievers={"kendra": kendra}), settings,
                 PERU).answer
    assert answer.generated and answer.source == "kendra"
    assert [c.title for c in answer.citations] == ["Peru facts", "Lima history"]
    assert "[Lima history](https://example.com/lima)" in answer.markdown
    assert "[1] Peru facts" in llm.calls[0].text


def test_a_kendra_failure_moves_on_to_no_hits(kb, settings):
    kendra = FakeRetriever("kendra", error=RetrievalError("Kendra index i-1 failed: denied"))
    turn = ask(make_pipeline(kb, retrievers={"kendra": kendra}), settings,
               PERU)
    assert turn.answer.source == "no_hits"
    assert any("Kendra index i-1 failed" in d for d in turn.debug.degraded)


def test_the_bedrock_knowledge_base_answers_after_kendra_finds_nothing(kb, settings):
    kendra = FakeRetriever("kendra", [])
    bedrock_kb = FakeRetriever("knowledge_base", [
        RetrievedPassage("Lima.", title="peru.pdf", url="s3://docs/peru.pdf")])
    turn = ask(make_pipeline(kb, retrievers={"kendra": kendra, "knowledge_base": bedrock_kb}),
               settings, PERU)
    assert turn.answer.source == "knowledge_base"
    assert kendra.queries and bedrock_kb.queries


def test_fallback_order_puts_kendra_before_text_passages(kb, settings):
    kendra = FakeRetriever("kendra", KENDRA_PASSAGES[:1])
    settings = settings.with_overrides(FALLBACK_ORDER="kendra,text")
    assert ask(make_pipeline(kb, retrievers={"kendra": kendra}), settings,
               BO_PEEP).answer.source == "kendra"
    settings = settings.with_overrides(FALLBACK_ORDER="text,kendra")
    assert ask(make_pipeline(kb, retrievers={"kendra": kendra}), settings,
               BO_PEEP).answer.source == "text"


# --- no hits and errors ---------------------------------------------------------------------


def test_an_unanswerable_question_gets_the_no_hits_item(kb, settings):
    turn = ask(make_pipeline(kb), settings, PERU)
    assert (turn.answer.source, turn.answer.qid) == ("no_hits", "CustomNoMatches")
    assert turn.answer.text == "You stumped me, I don't currently know the answer to that question."
    assert not turn.answer.got_hits


def test_the_no_hits_question_setting_chooses_the_no_hits_item(tmp_path, settings):
    kb = build_kb(tmp_path / "k.sqlite", [
        {"qid": "Custom.NoHits", "q": ["nothing matched"], "a": "Try rephrasing."}],
        fixtures=False)
    settings = settings.with_overrides(ES_NO_HITS_QUESTION="nothing matched")
    turn = ask(make_pipeline(kb), settings, PERU)
    assert turn.answer.qid == "Custom.NoHits"


def test_without_a_no_hits_item_the_empty_message_is_given(tmp_path, settings):
    kb = build_kb(tmp_path / "k.sqlite", [{"qid": "A.1", "q": ["Hello"], "a": "Hi"}],
                  fixtures=False)
    turn = ask(make_pipeline(kb), settings.with_overrides(EMPTYMESSAGE="No idea, sorry."),
               PERU)
    assert (turn.answer.text, turn.answer.qid, turn.answer.source) == (
        "No idea, sorry.", None, "no_hits")


class BrokenSearchKB:
    """A knowledge base whose search fails (the store is locked or corrupt)."""

    def __init__(self, kb):
        self.store = kb.store

    def search(self, *args, **kwargs):
        raise RuntimeError("database disk image is malformed")


def test_an_error_during_the_turn_answers_with_the_error_msg_item(tmp_path, settings):
    kb = build_kb(tmp_path / "k.sqlite", [
        {"qid": "Oops", "q": ["error_msg"], "a": "Something went wrong, please retry."}])
    turn = ask(make_pipeline(BrokenSearchKB(kb)), settings, "What is an Amazon Echo Show")
    assert (turn.answer.source, turn.answer.qid) == ("error", "Oops")
    assert "database disk image is malformed" in turn.debug.degraded[-1]


def test_an_error_without_an_error_msg_item_answers_with_the_error_message(kb, settings):
    turn = ask(make_pipeline(BrokenSearchKB(kb)), settings, "What is an Amazon Echo Show")
    assert turn.answer.text == settings.get("ERRORMESSAGE")


def test_an_empty_transcript_gets_the_error_message(kb, settings):
    turn = ask(make_pipeline(kb), settings, "")
    assert (turn.answer.source, turn.answer.text) == ("error", settings.get("ERRORMESSAGE"))


# --- debug responses ------------------------------------------------------------------------


def test_debug_responses_prefix_the_answer_with_how_it_was_found(kb, settings):
    settings = settings.with_overrides(ENABLE_DEBUG_RESPONSES=True)
    answer = ask(make_pipeline(kb), settings, "What is an Amazon Echo Show").answer
    assert answer.text.startswith('[User Input: "What is an Amazon Echo Show", Search string: '
                                  '"What is an Amazon Echo Show", Matched qid: Alexa.001, '
                                  'Source: qna]')
    assert answer.markdown.startswith("*[User Input:")


def test_debug_responses_show_the_generated_query_and_its_time(kb, settings):
    llm = ScriptedLLM(["Can Amazon Lex integrate with my CRM?"])
    pipeline = make_pipeline(kb, llm)
    debug = settings.with_overrides(ENABLE_DEBUG_RESPONSES=True)
    ask(pipeline, settings, "What is Amazon Lex?")
    answer = ask(pipeline, debug, "Can it integrate with my CRM?").answer
    assert 'Generated query: "Can Amazon Lex integrate with my CRM?" (' in answer.text
    assert " ms)" in answer.text


def test_llm_calls_share_the_turns_time_budget(kb, settings):
    from fulfillment.memory import InMemoryUserStore, Memory

    memory = Memory(InMemoryUserStore())
    memory.record_turn("s1", "s1", "Who is Bo-Peep?", "A shepherdess.", max_messages=12,
                       ttl_days=1)
    llm = ScriptedLLM([HANG])
    settings = settings.with_overrides(LLM_TIMEOUT_SECONDS=0.6, TURN_TIME_BUDGET_SECONDS=1)
    try:
        turn = ask(make_pipeline(kb, llm, memory=memory), settings,
                   "What did she lose? Little Bo-Peep lost something")
    finally:
        llm.release()
    # The rewrite hangs until its 0.6 s limit; the answer call gets at most what is left of
    # the 1 s budget (or is not started), and the passage answers.
    rewrite, *rest = turn.debug.llm_calls
    assert rewrite.purpose == "rewrite" and rewrite.error.endswith("within 0.6 s")
    if rest:
        assert float(rest[0].error.split("within ")[1].split(" s")[0]) < 0.6
    else:
        assert "time budget is spent" in turn.debug.degraded[-1]
    assert turn.answer.source == "text" and not turn.answer.generated


def test_a_follow_up_is_matched_with_the_previous_question_as_context(kb, settings):
    seen = {}

    class SpyKB:
        store = kb.store

        def search(self, query, settings, **kwargs):
            seen.update(kwargs)
            return kb.search(query, settings, **kwargs)

    ask(make_pipeline(SpyKB()), settings, "How much does it cost?", session_attributes={
        "qnabotcontext": {"previous": {"qid": "Alexa.001", "q": "What is an Amazon Echo Show"},
                          "topic": "EchoShow"}})
    assert seen["context"] == "What is an Amazon Echo Show"
    assert seen["topic"] == "EchoShow"


def test_an_item_with_a_kendra_redirect_answers_from_kendra_with_its_query(tmp_path, settings):
    kb = build_kb(tmp_path / "k.sqlite", [
        {"qid": "Peru.Redirect", "q": ["Tell me about Peru"], "a": "See Kendra.",
         "kendraRedirectQueryText": "Peru travel guide"}], fixtures=False)
    kendra = FakeRetriever("kendra", KENDRA_PASSAGES[:1])
    turn = ask(make_pipeline(kb, retrievers={"kendra": kendra}), settings, "Tell me about Peru")
    assert kendra.queries == ["Peru travel guide"]
    assert turn.answer.source == "kendra"
    assert turn.answer.text.startswith("Peru's capital is Lima")


def test_the_history_keeps_the_generated_answer_without_its_label(kb, settings):
    from fulfillment.memory import InMemoryUserStore, Memory

    memory = Memory(InMemoryUserStore())
    ask(make_pipeline(kb, ScriptedLLM(["She lost her sheep."]), memory=memory), settings,
        BO_PEEP)
    assert [m.text for m in memory.history("s1", "s1")] == [BO_PEEP, "She lost her sheep."]


# --- streaming and the rewrite cache ---------------------------------------------------------


def test_a_generated_answer_streams_its_text_so_far_with_the_prefix(kb, settings):
    partials: list[str] = []
    turn = make_pipeline(kb, ScriptedLLM(["She lost her sheep."])).run(
        Request(session_id="s1", transcript=BO_PEEP), settings, on_partial=partials.append)
    assert partials == ["LLM Answer: She", "LLM Answer: She lost", "LLM Answer: She lost her",
                        "LLM Answer: She lost her sheep."]
    assert turn.answer.text == partials[-1]
    assert turn.debug.llm_calls[0].first_token_ms is not None


@pytest.mark.parametrize("input_mode, overrides", [("Speech", {}),
                                                   ("Text", {"LLM_STREAMING_ENABLED": False})])
def test_voice_turns_and_disabled_streaming_send_no_partials(kb, settings, input_mode, overrides):
    partials: list[str] = []
    turn = make_pipeline(kb, ScriptedLLM(["She lost her sheep."])).run(
        Request(session_id="s1", transcript=BO_PEEP, input_mode=input_mode),
        settings.with_overrides(**overrides), on_partial=partials.append)
    assert partials == [] and turn.answer.generated


def test_a_repeated_follow_up_in_the_same_conversation_reuses_the_cached_rewrite(kb, settings):
    from fulfillment.memory import InMemoryUserStore, Memory

    llm = ScriptedLLM(["Can Amazon Lex integrate with my CRM?"])
    pipeline = make_pipeline(kb, llm, memory=Memory(InMemoryUserStore()))
    history = [("s1", "What is Amazon Lex?"), ("s2", "What is Amazon Lex?")]
    for session, question in history:  # two users, the same conversation so far
        ask(pipeline, settings, question, session=session)
    first = ask(pipeline, settings, "Can it integrate with my CRM?", session="s1")
    second = ask(pipeline, settings, "Can it integrate with my CRM?", session="s2")
    assert [c.purpose for c in first.debug.llm_calls] == ["rewrite"]
    assert second.debug.llm_calls == [] and second.debug.rewrite_cached
    assert second.debug.generated_query == "Can Amazon Lex integrate with my CRM?"
    assert second.answer.qid == first.answer.qid == "Lex.CRM"
    uncached = settings.with_overrides(LLM_GENERATE_QUERY_CACHE_ENABLE=False)
    ask(pipeline, settings, "What is Amazon Lex?", session="s3")
    third = ask(pipeline, uncached, "Can it integrate with my CRM?", session="s3")
    assert [c.purpose for c in third.debug.llm_calls] == ["rewrite"]


def test_a_failed_rewrite_is_not_cached(kb, settings):
    llm = ScriptedLLM([LLMError("down"), "Can Amazon Lex integrate with my CRM?"])
    pipeline = make_pipeline(kb, llm)
    ask(pipeline, settings, "What is Amazon Lex?", session="a")
    ask(pipeline, settings, "What is Amazon Lex?", session="b")
    assert ask(pipeline, settings, "Can it integrate with my CRM?", session="a") \
        .debug.generated_query == ""
    assert ask(pipeline, settings, "Can it integrate with my CRM?", session="b") \
        .debug.generated_query == "Can Amazon Lex integrate with my CRM?"


def test_an_llms_own_setting_defaults_apply_unless_the_admin_set_them(kb, settings):
    class SlowLocalLLM(ScriptedLLM):
        setting_defaults = {"LLM_TIMEOUT_SECONDS": "25", "LLM_PROMPT_MAX_TOKEN_LIMIT": "100"}

    llm = SlowLocalLLM(["She lost her sheep."])
    pipeline = make_pipeline(kb, llm)
    turn = ask(pipeline, settings, BO_PEEP)
    assert turn.answer.generated
    assert "prompt trimmed" in " ".join(turn.debug.degraded)  # the 100-token budget applied
    admin = settings.with_overrides(LLM_PROMPT_MAX_TOKEN_LIMIT=4000)
    untrimmed = ask(pipeline, admin, BO_PEEP, session="s2")
    assert "prompt trimmed" not in " ".join(untrimmed.debug.degraded)
    assert len(llm.calls[1].text) > len(llm.calls[0].text)


def test_the_llm_reads_every_passage_as_similar_as_the_threshold_though_one_answers(tmp_path,
                                                                                  settings):
    from knowledge.matching import Hit, SearchResult
    from knowledge.store import SearchField

    kb = build_kb(tmp_path / "k.sqlite", fixtures=True)
    bo_peep, humpty = kb.store.get("0.BoPeep"), kb.store.get("0.HumptyDumpty")

    def search(query, settings, **kwargs):  # the classifier let only Bo-Peep answer
        return SearchResult(query=query, mode="hybrid", candidates=[
            Hit(bo_peep, SearchField.PASSAGES, 0.9, 0.9, 0.0, 0.0, "", 0.8, verdict="confident"),
            Hit(humpty, SearchField.PASSAGES, 0.82, 0.82, 0.0, 0.0, "", 0.8),
            Hit(humpty, SearchField.PASSAGES, 0.5, 0.5, 0.0, 0.0, "", 0.8)])

    kb.search = search
    llm = ScriptedLLM(["She lost her sheep."])
    turn = ask(make_pipeline(kb, llm), settings, "Which nursery rhymes have animals?")
    assert turn.answer.qid == "0.BoPeep" and turn.answer.generated
    prompt = llm.calls[0].text
    assert "Bo-Peep" in prompt and "Humpty Dumpty" in prompt
    assert "[2]" in prompt and "[3]" not in prompt  # the one below the threshold stays out
