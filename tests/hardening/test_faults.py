"""Faults injected one at a time: every turn still answers, within the time budget.

* the LLM times out, throttles, errors or returns garbage -> the passage answers
  (Bedrock behind Stubber, so the real adapter turns each into an LLM error);
* Kendra errors (Stubber) -> the next source, then no_hits;
* the embeddings provider is down (Stubber) -> keyword matching;
* the store is locked or its file corrupt -> the turn answers, the admin API says 503;
* a setting holds a bad value -> its default, never a failed turn.

The time budget is checked on its logic with a clock the test moves forward (an LLM call
"takes" as long as the test says), never on wall time.
"""

from __future__ import annotations

import json
import sqlite3
import types

import boto3
import pytest
from botocore.stub import Stubber

from fulfillment import handler, pipeline
from fulfillment.handler import lambda_handler
from fulfillment.kendra import KendraRetriever
from fulfillment.llm.base import Generation, Prompt
from fulfillment.llm.bedrock import BedrockLLM
from fulfillment.memory import InMemoryUserStore, Memory
from fulfillment.model import Request
from knowledge.embeddings.bedrock import TITAN_V2, BedrockEmbeddings
from knowledge.settings import SettingError, Settings, validate_updates
from tests.fulfillment.conftest import converse_reply
from tests.fulfillment.lex_events import first_text, text_event
from tests.hardening.conftest import (
    ERROR_MESSAGE,
    LEX_ITEMS,
    MemorySettingsRepo,
    assert_proper_lex_response,
    build_kb,
    make_pipeline,
)

BO_PEEP = "What did Little Bo-Peep lose?"  # scripted to match the Bo-Peep passage
BO_PEEP_PASSAGE = "Little Bo-Peep has lost her sheep"
FOLLOW_UP = "What did she lose? Little Bo-Peep lost something"  # scripted the same way
PERU = "Name the capital city of Peru"  # scripted to match nothing
KENDRA_INDEX = "0b5e7f4a-1c2d-4e3f-8a9b-0c1d2e3f4a5b"
OTHER_INDEX = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"


def aws(service: str):
    """A real botocore client with fake credentials, to be used behind a Stubber only."""
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")


def ask(turn_pipeline, settings, text, *, time_left=None, session="s1", **fields):
    return turn_pipeline.run(Request(session, text, **fields), settings, time_left=time_left)


# --- the LLM ----------------------------------------------------------------------------------


LLM_FAULTS = {
    "throttled": ("error", "ThrottlingException", 429),
    "access denied": ("error", "AccessDeniedException", 403),
    "model timeout": ("error", "ModelTimeoutException", 408),
    "model not ready": ("error", "ModelNotReadyException", 429),
    "service unavailable": ("error", "ServiceUnavailableException", 503),
    "internal error": ("error", "InternalServerException", 500),
    "no content": ("reply", {"output": {"message": {"role": "assistant", "content": []}},
                             "stopReason": "end_turn", "usage": {"inputTokens": 1,
                             "outputTokens": 0, "totalTokens": 1}, "metrics": {"latencyMs": 1}},
                   None),
    "blank text": ("reply", converse_reply("   \n  "), None),
    "guardrail intervened with no text": ("reply", {**converse_reply(""),
                                                    "stopReason": "guardrail_intervened"}, None),
}


@pytest.mark.parametrize("fault", list(LLM_FAULTS))
def test_a_failing_bedrock_llm_leaves_the_passage_as_the_answer(kb, settings, fault):
    kind, detail, status = LLM_FAULTS[fault]
    runtime = aws("bedrock-runtime")
    with Stubber(runtime) as stub:
        if kind == "error":
            stub.add_client_error("converse", detail, f"{fault} (injected)",
                                  http_status_code=status)
        else:
            stub.add_response("converse", detail)
        turn = ask(make_pipeline(kb, BedrockLLM(client=runtime)), settings, BO_PEEP)

    assert turn.answer.source == "text" and not turn.answer.generated
    assert turn.answer.text.startswith(BO_PEEP_PASSAGE)
    [call] = turn.debug.llm_calls
    assert not call.ok and (detail in call.error if kind == "error" else "no text" in call.error)
    assert any(d.startswith("LLM qa error") for d in turn.debug.degraded)


def test_garbage_markup_from_the_llm_is_answered_but_never_sent_as_markup(kb, settings):
    runtime = aws("bedrock-runtime")
    with Stubber(runtime) as stub:
        stub.add_response("converse", converse_reply(
            "She lost <script>steal()</script><img src=x onerror=steal()> her sheep "
            "[more](javascript:steal())"))
        turn = ask(make_pipeline(kb, BedrockLLM(client=runtime)), settings, BO_PEEP)

    assert turn.answer.generated and "her sheep" in turn.answer.text
    for unsafe in ("<script", "onerror", "javascript:"):
        assert unsafe not in turn.answer.markdown
    assert "<script" not in turn.answer.ssml


def test_aws_clients_retry_throttling_adaptively_within_the_calls_time_limit(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    made = {}
    real_client = boto3.client

    def recording_client(service, *args, **kwargs):
        made[service] = kwargs["config"]
        return real_client(service, *args, aws_access_key_id="test",
                           aws_secret_access_key="test", **kwargs)

    monkeypatch.setattr(boto3, "client", recording_client)
    BedrockLLM()._client_for(4.0)
    KendraRetriever()._kendra()

    for service in ("bedrock-runtime", "kendra"):
        config = made[service]
        assert config.retries["mode"] == "adaptive", service
        assert config.connect_timeout <= config.read_timeout <= 10, service
    assert made["bedrock-runtime"].read_timeout == 4.0  # the LLM call's own limit


# --- the time budget ------------------------------------------------------------------------


class Clock:
    """``time.perf_counter`` plus the seconds the test says have passed."""

    def __init__(self):
        self.skipped = 0.0
        self._real = pipeline.time.perf_counter

    def perf_counter(self) -> float:
        return self._real() + self.skipped


class TimedLLM:
    """An LLM whose calls take the given seconds (on the test's clock); records each limit."""

    name, enabled = "TIMED", True

    def __init__(self, clock: Clock, calls: list[tuple[float, str]]):
        self.clock, self.script, self.limits = clock, list(calls), []

    def generate(self, prompt: Prompt, *, timeout: float, settings) -> Generation:
        self.limits.append(timeout)
        seconds, text = self.script[min(len(self.limits), len(self.script)) - 1]
        self.clock.skipped += seconds
        return Generation(text)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(pipeline, "time", types.SimpleNamespace(perf_counter=fake.perf_counter))
    return fake


def with_history() -> Memory:
    memory = Memory(InMemoryUserStore())
    memory.record_turn("s1", "s1", "Who is Bo-Peep?", "A shepherdess.", max_messages=12,
                       ttl_days=1)
    return memory


# Each limit is checked to within the real time the turn itself takes (far less than 1 s).
def near(value: float, expected: float) -> bool:
    return expected - 1.0 < value <= expected


def test_the_second_llm_call_gets_what_the_first_left_of_the_text_budget(kb, settings, clock):
    llm = TimedLLM(clock, [(9.0, ""), (1.0, "She lost her sheep.")])  # rewrite, then answer
    settings = settings.with_overrides(LLM_TIMEOUT_SECONDS=10, TURN_TIME_BUDGET_SECONDS=12)

    turn = ask(make_pipeline(kb, llm, memory=with_history()), settings, FOLLOW_UP)

    rewrite_limit, answer_limit = llm.limits
    assert near(rewrite_limit, 10.0) and near(answer_limit, 3.0)
    assert turn.answer.generated and "She lost her sheep." in turn.answer.text


def test_no_llm_call_starts_once_the_budget_is_spent_and_the_passage_answers(kb, settings, clock):
    llm = TimedLLM(clock, [(11.95, ""), (1.0, "never asked")])
    settings = settings.with_overrides(LLM_TIMEOUT_SECONDS=12, TURN_TIME_BUDGET_SECONDS=12)

    turn = ask(make_pipeline(kb, llm, memory=with_history()), settings, FOLLOW_UP)

    assert len(llm.limits) == 1
    assert "time budget is spent" in turn.debug.degraded[-1]
    assert turn.answer.source == "text" and turn.answer.text.startswith(BO_PEEP_PASSAGE)


def test_a_voice_turn_uses_the_shorter_voice_budget_from_settings(kb, settings, clock):
    llm = TimedLLM(clock, [(3.5, ""), (1.0, "She lost her sheep.")])
    settings = settings.with_overrides(LLM_VOICE_TIMEOUT_SECONDS=4,
                                       TURN_VOICE_TIME_BUDGET_SECONDS=5)

    turn = ask(make_pipeline(kb, llm, memory=with_history()), settings, FOLLOW_UP,
               accepts_ssml=True)

    rewrite_limit, answer_limit = llm.limits
    assert near(rewrite_limit, 4.0) and near(answer_limit, 1.5)
    assert turn.answer.ssml.startswith("<speak>")


def test_the_lambdas_remaining_time_caps_the_budget_keeping_a_second_to_reply(kb, settings,
                                                                             clock):
    llm = TimedLLM(clock, [(0.0, "She lost her sheep.")])
    turn = ask(make_pipeline(kb, llm), settings, BO_PEEP, time_left=3.0)

    [limit] = llm.limits
    assert near(limit, 2.0)  # 3 s left, 1 s kept back to build and return the response
    assert turn.answer.generated


@pytest.mark.parametrize("name, value", [
    ("TURN_TIME_BUDGET_SECONDS", "30"), ("TURN_TIME_BUDGET_SECONDS", "0"),
    ("TURN_VOICE_TIME_BUDGET_SECONDS", "45"), ("LLM_TIMEOUT_SECONDS", "120"),
    ("LLM_VOICE_TIMEOUT_SECONDS", "-1"), ("LLM_TIMEOUT_SECONDS", "nan"),
])
def test_a_budget_that_would_outlast_lex_is_refused_when_saved(name, value):
    with pytest.raises(SettingError, match=name):
        validate_updates({name: value})


# --- Kendra -------------------------------------------------------------------------------------


KENDRA_ERRORS = [("ThrottlingException", 400), ("AccessDeniedException", 400),
                 ("ResourceNotFoundException", 400), ("InternalServerException", 500),
                 ("ValidationException", 400)]


@pytest.mark.parametrize("code, status", KENDRA_ERRORS, ids=[c for c, _ in KENDRA_ERRORS])
def test_a_kendra_error_moves_on_to_no_hits_and_names_the_index(kb, settings, code, status):
    kendra = aws("kendra")
    settings = settings.with_overrides(ALT_SEARCH_KENDRA_INDEXES=KENDRA_INDEX)
    with Stubber(kendra) as stub:
        stub.add_client_error("retrieve", code, "injected", http_status_code=status)
        turn = ask(make_pipeline(kb, retrievers={"kendra": KendraRetriever(kendra)}), settings,
                   PERU)
        stub.assert_no_pending_responses()

    assert turn.answer.source == "no_hits" and turn.answer.text.startswith("You stumped me")
    assert any(f"Kendra index {KENDRA_INDEX} failed" in d and code in d
               for d in turn.debug.degraded)


def test_one_failing_kendra_index_does_not_hide_the_other(kb, settings):
    kendra = aws("kendra")
    settings = settings.with_overrides(ALT_SEARCH_KENDRA_INDEXES=f"{KENDRA_INDEX},{OTHER_INDEX}")
    with Stubber(kendra) as stub:
        stub.add_client_error("retrieve", "ThrottlingException", "slow down")
        stub.add_response("retrieve", {"QueryId": "q", "ResultItems": [{
            "Id": "r1", "DocumentId": "d1", "DocumentTitle": "Peru facts",
            "Content": "Lima is the capital of Peru.", "DocumentURI": "https://example.com/peru",
            "ScoreAttributes": {"ScoreConfidence": "HIGH"}}]})
        turn = ask(make_pipeline(kb, retrievers={"kendra": KendraRetriever(kendra)}), settings,
                   PERU)

    assert turn.answer.source == "kendra" and turn.answer.text == "Lima is the capital of Peru."


# --- embeddings ------------------------------------------------------------------------------


class SameIndex:
    """Query embeddings from ``provider`` under the stored vectors' model name (as when the
    configured Bedrock model is the one the items were indexed with)."""

    def __init__(self, provider, like):
        self.provider, self.model_id, self.dimension = provider, like.model_id, like.dimension

    def embed(self, texts, input_type="q"):
        return self.provider.embed(texts, input_type)


@pytest.mark.parametrize("code, status", [("ServiceUnavailableException", 503),
                                          ("ThrottlingException", 429),
                                          ("AccessDeniedException", 403)])
def test_with_the_embeddings_provider_down_questions_are_matched_by_keywords(tmp_path, settings,
                                                                              code, status):
    scripted = build_kb(tmp_path / "k.sqlite", LEX_ITEMS, fixtures=False)
    runtime = aws("bedrock-runtime")
    down = BedrockEmbeddings(TITAN_V2, dimensions=256, client=runtime, max_workers=1)
    scripted.kb.embeddings = scripted.kb.matcher.embeddings = SameIndex(down, scripted.kb.index)
    with Stubber(runtime) as stub:
        stub.add_client_error("invoke_model", code, "injected", http_status_code=status)
        turn = ask(make_pipeline(scripted), settings, "Tell me about Amazon Lex")

    assert turn.answer.qid == "Lex.001"
    assert any(d.startswith("embeddings failed, matched on keywords") and code in d
               for d in turn.debug.degraded)


# --- the store -------------------------------------------------------------------------------


@pytest.fixture
def designer(tmp_path, monkeypatch):
    """The admin API over a knowledge base whose writers give up after 0.2 s."""
    from content_designer.api import create_app
    from content_designer.auth import token_authorizer
    from content_designer.feedback import FileFeedbackLog
    from content_designer.jobs import LocalJobQueue
    from content_designer.local_server import LocalApi
    from content_designer.services import DesignerServices, job_runner
    from knowledge.embeddings.hashing import HashingEmbeddings
    from knowledge.knowledge_base import KnowledgeBase
    from knowledge.settings_file import FileSettingsRepo
    from knowledge.stores.sqlite_store import SqliteStore
    from tests.content_designer.conftest import TOKEN, ApiClient

    home = tmp_path / "home"
    kb = KnowledgeBase(SqliteStore(home / "knowledge.sqlite", busy_timeout=0.2),
                       HashingEmbeddings(32))
    repo = FileSettingsRepo(home / "settings.json")
    services = DesignerServices(kb=kb, settings_repo=repo,
                                jobs=LocalJobQueue(home, job_runner(kb, repo)),
                                feedback=FileFeedbackLog(home / "feedback.jsonl"),
                                authorize=token_authorizer(TOKEN))
    client = ApiClient(LocalApi(create_app(services)))
    yield client, kb, home / "knowledge.sqlite"
    services.jobs.shutdown()
    kb.store.close()


def test_a_locked_store_refuses_edits_with_503_while_turns_still_answer(designer):
    client, kb, path = designer
    item = {"qid": "Lock.001", "q": ["Is the store locked?"], "a": "Not any more."}
    assert client.put("/items/Lock.001", item).status == 201
    other_process = sqlite3.connect(path, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        refused = client.put("/items/Lock.001", {**item, "a": "Changed."})
        turn = ask(make_pipeline(kb), Settings.defaults(), "Is the store locked?")
    finally:
        other_process.execute("ROLLBACK")
        other_process.close()

    assert refused.status == 503
    assert "another process is writing" in refused.json()["error"]
    assert turn.answer.qid == "Lock.001" and turn.answer.text == "Not any more."
    assert client.put("/items/Lock.001", {**item, "a": "Changed."}).status == 200  # once free
    assert kb.store.get("Lock.001").answer == "Changed."


def test_a_corrupt_store_file_gets_the_error_message_and_a_log_line(tmp_path, monkeypatch,
                                                                   caplog):
    home = tmp_path / "home"
    home.mkdir()
    (home / "knowledge.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xde\xad" * 4000)
    monkeypatch.setenv("QNABOT_HOME", str(home))
    monkeypatch.setenv("EMBEDDINGS_API", "HASHING")
    for name in ("LLM_API", "USERS_TABLE", "SETTINGS_TABLE", "QNABOT_STORE"):
        monkeypatch.delenv(name, raising=False)
    handler.set_service(None)
    try:
        response = lambda_handler(text_event("What is Amazon Lex?"), None)
    finally:
        handler.set_service(None)

    assert_proper_lex_response(response)
    assert first_text(response) == ERROR_MESSAGE
    assert "cannot build the fulfillment service" in caplog.messages
    assert "knowledge.sqlite" not in json.dumps(response)  # no internals shown to the user


# --- settings ---------------------------------------------------------------------------------


BAD_VALUES = {
    "EMBEDDINGS_SCORE_THRESHOLD": "high", "LLM_TIMEOUT_SECONDS": "soon",
    "TURN_TIME_BUDGET_SECONDS": "300", "MATCH_CANDIDATES": "-4",
    "LLM_QA_MODEL_PARAMS": "{not json", "LLM_QA_NO_HITS_REGEX": "([unclosed",
    "ALT_SEARCH_KENDRA_FALLBACK_CONFIDENCE_SCORE": "SOMEWHAT", "ENABLE_DEBUG_RESPONSES": "maybe",
    "FALLBACK_ORDER": "bogus,,kendra", "LLM_CHAT_HISTORY_MAX_MESSAGES": "1e9",
}


@pytest.mark.parametrize("name", list(BAD_VALUES))
def test_a_stored_setting_that_does_not_parse_falls_back_to_its_default(name, kb, use_service):
    from tests.fulfillment.lex_events import LexConversation

    repo = MemorySettingsRepo()
    repo.values[name] = BAD_VALUES[name]  # stored behind the API's back (e.g. in DynamoDB)
    use_service(make_pipeline(kb), repo)
    settings = Settings.from_overrides(repo.values)

    reply = LexConversation(lambda_handler).ask("What is Amazon Lex?")

    assert settings.get(name) == Settings.defaults().get(name) or name == "FALLBACK_ORDER"
    assert first_text(reply).startswith("Amazon Lex is an AWS service")


def test_a_broken_redaction_pattern_still_redacts_with_the_default(kb, use_service, caplog):
    repo = MemorySettingsRepo(ENABLE_REDACTING=True)
    repo.values["REDACTING_REGEX"] = "(\\d{4}"  # stored broken, behind the API's back
    use_service(make_pipeline(kb), repo)

    lambda_handler(text_event("What is Amazon Lex? my card ends 4111"), None)

    logged = json.dumps([getattr(r, "turn", None) for r in caplog.records])
    assert "Amazon Lex" in logged and "4111" not in logged


def test_an_unreadable_settings_file_answers_with_the_defaults_and_logs_why(tmp_path, kb,
                                                                          use_service, caplog):
    from knowledge.settings_file import FileSettingsRepo

    path = tmp_path / "settings.json"
    path.write_text('{"EMBEDDINGS_SCORE_THRESHOLD": ', "utf-8")  # cut off mid-write
    use_service(make_pipeline(kb), FileSettingsRepo(path))

    response = lambda_handler(text_event("What is Amazon Lex?"), None)

    assert first_text(response).startswith("Amazon Lex is an AWS service")
    assert "cannot read settings, using the defaults" in caplog.messages
