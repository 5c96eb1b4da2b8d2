"""The Lambda handler end to end: Lex V2 events in, Lex V2 responses out, never an exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from fulfillment import handler
from fulfillment.handler import lambda_handler
from fulfillment.llm.scripted import ScriptedLLM
from fulfillment.memory import InMemoryUserStore, Memory

from .conftest import MemorySettingsRepo, make_pipeline
from .lex_events import LexConversation, connect_voice_event, first_text, text_event

REWRITE = "Can Amazon Lex integrate with my CRM?"


class SpyKB:
    """Wraps the knowledge base to record every search string."""

    def __init__(self, kb):
        self.kb, self.store, self.searches = kb, kb.store, []

    def search(self, query, settings, **kwargs):
        self.searches.append(query)
        return self.kb.search(query, settings, **kwargs)


def test_a_follow_up_is_rewritten_with_the_history_and_searched_as_original_slash_rewritten(
        kb, use_service):
    llm = ScriptedLLM([REWRITE])
    spy = SpyKB(kb)
    use_service(make_pipeline(spy, llm))
    conversation = LexConversation(lambda_handler, session_id="crm-demo")

    first = conversation.ask("What is Amazon Lex?")
    assert first_text(first).startswith("Amazon Lex is an AWS service")
    assert llm.calls == []  # no history yet: no rewrite

    second = conversation.ask("Can it integrate with my CRM?")
    rewrite_prompt = llm.calls[0].text
    assert "Human: What is Amazon Lex?" in rewrite_prompt
    assert "AI: Amazon Lex is an AWS service for building conversational interfaces" in \
        rewrite_prompt
    assert "Can it integrate with my CRM?" in rewrite_prompt
    assert llm.calls[0].system == MemorySettingsRepo().overrides().get(
        "LLM_GENERATE_QUERY_SYSTEM_PROMPT", handler.Settings.defaults().get(
            "LLM_GENERATE_QUERY_SYSTEM_PROMPT"))
    assert spy.searches[-1] == f"Can it integrate with my CRM? / {REWRITE}"
    attributes = second["sessionState"]["sessionAttributes"]
    assert attributes["qnabot_qid"] == "Lex.CRM"
    assert first_text(second).startswith("Yes. Amazon Lex integrates with CRM systems")


def test_the_topic_carried_in_session_attributes_answers_a_follow_up_without_an_llm(
        kb, use_service):
    use_service(make_pipeline(kb))
    conversation = LexConversation(lambda_handler)
    conversation.ask("What is an Amazon Echo Show")
    context = json.loads(conversation.attributes["qnabotcontext"])
    assert context["topic"] == "EchoShow"
    assert context["previous"] == {"qid": "Alexa.001", "q": "What is an Amazon Echo Show"}
    reply = conversation.ask("How much does it cost?")
    assert reply["sessionState"]["sessionAttributes"]["qnabot_qid"] == "Alexa.Cost"


def test_a_new_lex_session_starts_with_a_fresh_history(kb, use_service):
    llm = ScriptedLLM([REWRITE])
    use_service(make_pipeline(kb, llm))
    LexConversation(lambda_handler, session_id="one").ask("What is Amazon Lex?")
    LexConversation(lambda_handler, session_id="two").ask("Can it integrate with my CRM?")
    assert llm.calls == []


def test_history_lives_in_the_users_table_not_in_session_attributes(kb, use_service):
    users = InMemoryUserStore()
    use_service(make_pipeline(kb, memory=Memory(users)))
    conversation = LexConversation(lambda_handler, session_id="bounded")
    for _ in range(10):
        conversation.ask("What is Amazon Lex?")
    assert len(users.get("bounded").messages) == 12  # LLM_CHAT_HISTORY_MAX_MESSAGES
    assert "Amazon Lex is an AWS service" not in json.dumps(
        {k: v for k, v in conversation.attributes.items() if k != "appContext"})


def test_settings_changes_apply_from_the_next_turn(kb, use_service):
    repo = use_service(make_pipeline(kb))
    before = first_text(lambda_handler(text_event("Name the capital city of Peru"), None))
    repo.save({"ES_NO_HITS_QUESTION": "no such question", "EMPTYMESSAGE": "Ask me another."})
    after = first_text(lambda_handler(text_event("Name the capital city of Peru"), None))
    assert before.startswith("You stumped me") and after == "Ask me another."


def test_a_voice_turn_from_connect_is_answered_in_ssml(kb, use_service):
    use_service(make_pipeline(kb))
    response = lambda_handler(connect_voice_event("What is an Amazon Echo Show"), None)
    message = response["messages"][0]
    assert message["contentType"] == "SSML"
    assert message["content"].startswith("<speak>Echo Show brings you")


@pytest.mark.parametrize("event", [
    None, "text", [], {}, {"sessionId": 42}, {"sessionId": "s", "inputTranscript": 7},
    {"sessionId": "s", "inputTranscript": "hi", "sessionState": "broken"},
], ids=["none", "string", "list", "empty", "bad-session", "bad-transcript", "bad-state"])
def test_a_malformed_event_gets_the_error_message_and_a_log_line(event, kb, use_service,
                                                                 caplog):
    use_service(make_pipeline(kb))
    response = lambda_handler(event, None)
    assert response["sessionState"]["dialogAction"] == {"type": "Close"}
    assert first_text(response) == handler.Settings.defaults().get("ERRORMESSAGE")
    assert "malformed Lex event" in caplog.messages


def test_an_empty_transcript_gets_the_error_message(kb, use_service):
    use_service(make_pipeline(kb))
    response = lambda_handler(text_event("   "), None)
    assert first_text(response) == handler.Settings.defaults().get("ERRORMESSAGE")
    assert response["sessionState"]["sessionAttributes"]["qnabot_gotanswer"] == "false"


def test_a_backend_that_cannot_be_built_still_answers(monkeypatch):
    def broken():
        raise RuntimeError("OPENSEARCH_URL is not set")

    handler.set_service(None)
    monkeypatch.setattr(handler.FulfillmentService, "from_environment", broken)
    try:
        response = lambda_handler(text_event("What is an Amazon Echo Show"), None)
    finally:
        handler.set_service(None)
    assert first_text(response) == handler.Settings.defaults().get("ERRORMESSAGE")


def test_each_turn_logs_one_structured_record_without_secrets(kb, use_service, caplog):
    use_service(make_pipeline(kb, ScriptedLLM([REWRITE])),
                MemorySettingsRepo(ENABLE_REDACTING=True))
    conversation = LexConversation(lambda_handler)
    conversation.ask("What is Amazon Lex?")
    caplog.clear()
    conversation.ask("Can it integrate with my CRM? My card is 4111")
    lines = [{"message": r.getMessage(), **{k: v for k, v in vars(r).items() if k == "turn"}}
             for r in caplog.records]
    turns = [line["turn"] for line in lines if line["message"] == "turn"]
    assert len(turns) == 1
    record = turns[0]
    assert record["qid"] == "Lex.CRM" and record["source"] == "qna"
    assert record["llm_calls"] == 1 and record["llm_input_tokens"] > 0
    assert record["scores"]["qna"] > 0
    assert {"search", "rewrite", "stage.qna", "total"} <= set(record["timings_ms"])
    assert "4111" not in json.dumps(lines)
    assert "LLM_QA_SYSTEM_PROMPT" not in json.dumps(lines)


def test_the_knowledge_base_is_built_once_per_process(monkeypatch, tmp_path):
    monkeypatch.setenv("QNABOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EMBEDDINGS_API", "HASHING")
    monkeypatch.delenv("LLM_API", raising=False)
    monkeypatch.delenv("USERS_TABLE", raising=False)
    monkeypatch.delenv("SETTINGS_TABLE", raising=False)
    monkeypatch.delenv("QNABOT_STORE", raising=False)
    built = []
    original = handler.FulfillmentService.from_environment.__func__

    def counting(cls):
        built.append(1)
        return original(cls)

    monkeypatch.setattr(handler.FulfillmentService, "from_environment", classmethod(counting))
    handler.set_service(None)
    try:
        for _ in range(3):
            response = lambda_handler(text_event("Hello"), None)
        assert response["sessionState"]["intent"]["state"] == "Fulfilled"
    finally:
        handler.set_service(None)
    assert len(built) == 1
    assert (tmp_path / "home" / "users.sqlite").exists()


lex_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.text(max_size=10), children, max_size=3), max_leaves=10)


@hyp_settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(transcript=st.text(max_size=300), attributes=st.dictionaries(
    st.text(max_size=20), st.text(max_size=50) | st.just("{not json") | st.just('{"a": [1]}'),
    max_size=5), junk=st.dictionaries(st.sampled_from(
        ["inputMode", "bot", "requestAttributes", "sessionState", "interpretations"]),
        lex_values, max_size=3))
def test_any_event_gets_a_valid_lex_response(kb, use_service, transcript, attributes, junk):
    use_service(make_pipeline(kb))
    event = text_event(transcript, session_attributes=attributes)
    event.update(junk)
    response = lambda_handler(event, None)
    assert response["sessionState"]["dialogAction"]["type"] == "Close"
    assert all(isinstance(v, str) for v in response["sessionState"]["sessionAttributes"].values())
    assert response["messages"] and all(
        0 < len(m.get("content", "x")) <= 1000 for m in response["messages"])


def test_importing_the_handler_leaves_heavy_libraries_for_the_first_turn():
    import subprocess
    import sys

    code = ("import sys, fulfillment.handler; print(','.join(m for m in ('boto3', 'tiktoken', "
            "'onnxruntime', 'tokenizers', 'numpy', 'nh3') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == ""


def test_the_lambdas_remaining_time_bounds_the_llm_calls(kb, use_service):
    from fulfillment.llm.scripted import HANG

    class AlmostOutOfTime:
        aws_request_id = "req-1"

        def get_remaining_time_in_millis(self):
            return 1_100  # 1.1 s left: 1 s is kept to answer, so no LLM call can start

    llm = ScriptedLLM([HANG])
    use_service(make_pipeline(kb, llm))
    try:
        response = lambda_handler(text_event("What did Little Bo-Peep lose?"), AlmostOutOfTime())
    finally:
        llm.release()
    assert llm.calls == []
    assert first_text(response).startswith("Little Bo-Peep has lost her sheep")


def test_markdown_and_cards_sent_to_clients_are_sanitized(tmp_path, use_service):
    from .conftest import build_kb

    kb = build_kb(tmp_path / "x.sqlite", [{
        "qid": "Evil.1", "q": ["Show me the evil answer"], "a": "Plain answer.",
        "alt": {"markdown": "**Hi** <script>steal()</script><img src=x onerror=steal()> "
                            "[click](javascript:steal())"},
        "r": {"title": "<b>Card</b><script>x()</script>",
              "buttons": [{"text": "<i>Go</i>", "value": "go"}]}}], fixtures=False)
    use_service(make_pipeline(kb))
    response = lambda_handler(text_event("Show me the evil answer"), None)
    dumped = json.dumps(response)
    for unsafe in ("<script", "onerror", "javascript:"):
        assert unsafe not in dumped
    app = json.loads(response["sessionState"]["sessionAttributes"]["appContext"])
    assert app["altMessages"]["markdown"].startswith("**Hi**")
    assert response["messages"][1]["imageResponseCard"]["title"] == "Card"
    assert response["messages"][1]["imageResponseCard"]["buttons"] == [
        {"text": "Go", "value": "go"}]


def test_a_malformed_event_gets_the_admins_error_message(kb, use_service):
    use_service(make_pipeline(kb), MemorySettingsRepo(ERRORMESSAGE="Oops, try again."))
    assert first_text(lambda_handler({"sessionId": 42}, None)) == "Oops, try again."


class BrokenStoreKB:
    """A knowledge base whose store cannot be read."""

    class _Store:
        def get(self, qid):
            raise ConnectionError("store unreachable")

    def __init__(self, kb):
        self.kb, self.store = kb, self._Store()


def test_a_dialog_hook_call_whose_item_cannot_be_read_is_delegated_to_lex(kb, use_service,
                                                                           caplog):
    from fulfillment.lex_event import make_event

    use_service(make_pipeline(BrokenStoreKB(kb)))
    event = make_event("Paint it red", intent="QID-INTENT-Paint_dot_1",
                       slots={"color": "red", "when": None}, invocation_source="DialogCodeHook",
                       session_attributes={"topic": "paint"})

    response = lambda_handler(event, None)

    assert response["sessionState"]["dialogAction"] == {"type": "Delegate"}
    assert response["sessionState"]["intent"]["slots"] == event["sessionState"]["intent"]["slots"]
    assert response["sessionState"]["sessionAttributes"] == {"topic": "paint"}
    assert "messages" not in response
    assert "cannot read the item of a QID intent" in caplog.text


@hyp_settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(slots=st.dictionaries(st.text(max_size=8), lex_values, max_size=4),
       cache=st.one_of(st.text(max_size=20), st.dictionaries(st.text(max_size=8), lex_values,
                                                               max_size=3)))
def test_a_dialog_hook_call_never_answers_whatever_its_slots_and_session(kb, use_service,
                                                                         slots, cache):
    use_service(make_pipeline(kb))
    event = text_event("Paint it", intent="QID-INTENT-Lex_dot_CRM",
                       invocation_source="DialogCodeHook",
                       session_attributes={"qnabotcontext": json.dumps({"slot": cache})})
    event["sessionState"]["intent"]["slots"] = slots

    response = lambda_handler(event, None)

    assert response["sessionState"]["dialogAction"]["type"] in ("Delegate", "ElicitSlot")
    assert "messages" not in response
    assert all(isinstance(v, str) for v in response["sessionState"]["sessionAttributes"].values())
