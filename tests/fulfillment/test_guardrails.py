"""Guardrails on questions and answers: Bedrock ApplyGuardrail, and local rules in the same
shape, applied before anything else runs and to every final answer."""

from __future__ import annotations

import json
import os

import boto3
import pytest
from botocore.stub import Stubber

from fulfillment.guardrails import (
    BedrockGuard,
    GuardrailError,
    GuardSelector,
    LocalRuleGuard,
)
from fulfillment.handler import lambda_handler
from fulfillment.memory import InMemoryUserStore, Memory
from fulfillment.model import Request

from .conftest import MemorySettingsRepo, make_pipeline
from .lex_events import first_text, text_event

INVESTING = {
    "name": "no-advice",
    "blockedInputMessaging": "I can't give investment advice.",
    "blockedOutputsMessaging": "That answer is withheld.",
    "topicPolicyConfig": {"topicsConfig": [{
        "name": "Investment advice", "type": "DENY",
        "definition": "Recommendations about investing money.",
        "examples": ["Should I buy bitcoin", "Which stocks should I invest in"]}]},
    "wordPolicyConfig": {"wordsConfig": [{"text": "live TV"}],
                         "managedWordListsConfig": [{"type": "PROFANITY"}]},
    "sensitiveInformationPolicyConfig": {
        "piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE"},
                              {"type": "CREDIT_DEBIT_CARD_NUMBER", "action": "BLOCK"}],
        "regexesConfig": [{"name": "ORDER", "pattern": r"ORD-\d{6}", "action": "ANONYMIZE"}]},
}
PRE = {"PREPROCESS_GUARDRAIL_IDENTIFIER": "no-advice", "PREPROCESS_GUARDRAIL_VERSION": "1"}
POST = {"POSTPROCESS_GUARDRAIL_IDENTIFIER": "no-advice", "POSTPROCESS_GUARDRAIL_VERSION": "1"}


@pytest.fixture
def local_guard() -> LocalRuleGuard:
    return LocalRuleGuard.from_definition(INVESTING)


class CountingGuard:
    """Records what it was asked; delegates to the local rules."""

    def __init__(self, inner=None, error=None):
        self.inner, self.error, self.calls = inner, error, []

    def apply(self, text, *, source, identifier, version):
        self.calls.append((source, identifier, version, text))
        if self.error:
            raise self.error
        return self.inner.apply(text, source=source)


# --- the local rules ------------------------------------------------------------------------


@pytest.mark.parametrize("question", [
    "Should I buy bitcoin now?",                      # every content word of an example
    "tell me about investment advice for retirement",  # the topic named
    "Can I watch LIVE  tv here?",                      # a denied phrase, any case or spacing
    "this is shit",                                   # the managed profanity list
    "charge my card 4111 1111 1111 1111 please",      # a card number (Luhn-valid): BLOCK
])
def test_local_rules_block_with_the_input_message(local_guard, question):
    verdict = local_guard.apply(question, source="INPUT")
    assert verdict.intervened and verdict.blocked
    assert verdict.text == "I can't give investment advice."


@pytest.mark.parametrize("question", [
    "What is an Amazon Echo Show?",
    "Should I buy a ticket for the ferry?",  # shares words with an example, not all of them
    "My order number is 4111 1111 1111 1112",  # not a valid card number
    "Is Scunthorpe on the map?",
])
def test_local_rules_let_ordinary_questions_through(local_guard, question):
    verdict = local_guard.apply(question, source="INPUT")
    assert not verdict.intervened and verdict.text == question


def test_local_rules_mask_what_is_to_be_anonymized_as_bedrock_does(local_guard):
    verdict = local_guard.apply("Mail jane.doe@example.com about ORD-123456 and ORD-654321",
                                source="OUTPUT")
    assert verdict.intervened and not verdict.blocked
    assert verdict.text == "Mail {EMAIL} about {ORDER} and {ORDER}"
    assert set(verdict.findings) == {"pii:EMAIL:ANONYMIZED", "regex:ORDER:ANONYMIZED"}


def test_the_output_message_is_used_for_answers(local_guard):
    assert local_guard.apply("buy bitcoin: should I?", source="OUTPUT").text == \
        "That answer is withheld."


@pytest.mark.parametrize(("definition", "says"), [
    ({"topicPolicyConfig": {"topicsConfig": [{"definition": "x"}]}},
     "topicPolicyConfig/topicsConfig/0: 'name' is a required property"),
    ({"sensitiveInformationPolicyConfig": {"piiEntitiesConfig": [
        {"type": "PASSPORT_NUMBER", "action": "BLOCK"}]}}, "PASSPORT_NUMBER is not recognised"),
    ({"sensitiveInformationPolicyConfig": {"regexesConfig": [
        {"name": "bad", "pattern": "(", "action": "BLOCK"}]}}, "regex bad"),
    ({"wordPolicyConfig": {"wordsConfig": [{"text": ""}]}}, "wordsConfig/0/text"),
])
def test_a_bad_definition_is_refused_with_where_and_why(definition, says):
    with pytest.raises(GuardrailError, match="my.json") as error:
        LocalRuleGuard.from_definition(definition, where="my.json")
    assert says in str(error.value)


# --- Amazon Bedrock ---------------------------------------------------------------------------


def _bedrock():
    client = boto3.client("bedrock-runtime", region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_bedrock_apply_guardrail_is_called_with_the_configured_guardrail():
    client, stub = _bedrock()
    stub.add_response("apply_guardrail", {
        "usage": {"topicPolicyUnits": 1, "contentPolicyUnits": 1, "wordPolicyUnits": 1,
                  "sensitiveInformationPolicyUnits": 1,
                  "sensitiveInformationPolicyFreeUnits": 0, "contextualGroundingPolicyUnits": 0},
        "action": "GUARDRAIL_INTERVENED",
        "outputs": [{"text": "Sorry, the model cannot answer this question."}],
        "assessments": [{"topicPolicy": {"topics": [
            {"name": "Investing", "type": "DENY", "action": "BLOCKED"}]}}]},
        {"guardrailIdentifier": "gr-1", "guardrailVersion": "3", "source": "INPUT",
         "content": [{"text": {"text": "Should I buy bitcoin?"}}]})
    with stub:
        verdict = BedrockGuard(client).apply("Should I buy bitcoin?", source="INPUT",
                                             identifier="gr-1", version="3")
    stub.assert_no_pending_responses()
    assert verdict.blocked and verdict.findings == ("topic:Investing:BLOCKED",)
    assert verdict.text == "Sorry, the model cannot answer this question."


def test_bedrock_masking_returns_the_masked_text():
    client, stub = _bedrock()
    stub.add_response("apply_guardrail", {
        "usage": {"topicPolicyUnits": 0, "contentPolicyUnits": 0, "wordPolicyUnits": 0,
                  "sensitiveInformationPolicyUnits": 1,
                  "sensitiveInformationPolicyFreeUnits": 0, "contextualGroundingPolicyUnits": 0},
        "action": "GUARDRAIL_INTERVENED", "outputs": [{"text": "Write to {EMAIL}"}],
        "assessments": [{"sensitiveInformationPolicy": {"piiEntities": [
            {"match": "a@b.example", "type": "EMAIL", "action": "ANONYMIZED"}],
            "regexes": []}}]})
    with stub:
        verdict = BedrockGuard(client).apply("Write to a@b.example", source="OUTPUT",
                                             identifier="gr-1", version="DRAFT")
    assert verdict.intervened and not verdict.blocked and verdict.text == "Write to {EMAIL}"


def test_a_bedrock_error_is_a_guardrail_error():
    client, stub = _bedrock()
    stub.add_client_error("apply_guardrail", "ThrottlingException", "slow down")
    with stub, pytest.raises(GuardrailError, match="gr-1 could not be applied"):
        BedrockGuard(client).apply("hi", source="INPUT", identifier="gr-1", version="1")


# --- choosing local rules or Bedrock ------------------------------------------------------------


def test_the_selector_uses_a_local_definition_and_rereads_it_when_edited(tmp_path):
    path = tmp_path / "no-advice.json"
    path.write_text(json.dumps(INVESTING))
    selector = GuardSelector(tmp_path, bedrock=CountingGuard(error=AssertionError("not Bedrock")))
    assert selector.apply("Should I buy bitcoin?", source="INPUT", identifier="no-advice",
                          version="1").blocked
    path.write_text(json.dumps({"wordPolicyConfig": {"wordsConfig": [{"text": "ferry"}]}}))
    os.utime(path, (1, 1))  # a different modification time, whatever the clock's resolution
    assert not selector.apply("Should I buy bitcoin?", source="INPUT", identifier="no-advice",
                              version="1").intervened
    assert selector.apply("the ferry", source="INPUT", identifier="no-advice",
                          version="1").blocked


def test_the_selector_falls_back_to_bedrock_for_other_identifiers(tmp_path, local_guard):
    bedrock = CountingGuard(local_guard)
    GuardSelector(tmp_path, bedrock=bedrock).apply("hello", source="OUTPUT",
                                                   identifier="gr-abc", version="2")
    assert bedrock.calls == [("OUTPUT", "gr-abc", "2", "hello")]


def test_an_unreadable_local_definition_says_which_file(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(GuardrailError, match="broken.json cannot be read"):
        GuardSelector(tmp_path).apply("hi", source="INPUT", identifier="broken", version="1")


# --- in the turn ------------------------------------------------------------------------------


def test_a_blocked_question_is_not_searched_kept_or_answered_from_content(kb, settings,
                                                                           local_guard):
    memory = Memory(InMemoryUserStore())
    pipeline = make_pipeline(kb, guard=CountingGuard(local_guard), memory=memory)
    turn = pipeline.run(Request("s1", "Should I buy bitcoin today?"),
                        settings.with_overrides(**PRE))
    assert (turn.answer.source, turn.answer.text) == ("guardrail",
                                                      "I can't give investment advice.")
    assert not turn.answer.got_hits
    assert kb.searches == [] and memory.history("s1", "s1") == ()
    assert turn.debug.guardrail == ["pre:topic:Investment advice:BLOCKED"]


def test_a_masked_question_is_answered_with_the_pii_removed(kb, settings, local_guard):
    pipeline = make_pipeline(kb, guard=CountingGuard(local_guard))
    turn = pipeline.run(Request("s1", "What is an Amazon Echo Show? me@example.com"),
                        settings.with_overrides(**PRE))
    assert turn.answer.qid == "Alexa.001"
    assert kb.searches[0][0] == "What is an Amazon Echo Show? {EMAIL}"


def test_the_postprocess_guardrail_blocks_a_curated_answer(kb, settings, local_guard):
    guard = CountingGuard(local_guard)
    turn = make_pipeline(kb, guard=guard).run(
        Request("s1", "QID::FireTV.001"),
        settings.with_overrides(**POST))
    assert guard.calls[0][:3] == ("OUTPUT", "no-advice", "1")
    assert "Fire TV" in guard.calls[0][3]
    assert (turn.answer.source, turn.answer.text) == ("guardrail", "That answer is withheld.")
    assert turn.answer.card is None


def test_no_guardrail_runs_unless_identifier_and_version_are_both_set(kb, settings):
    guard = CountingGuard(error=AssertionError("must not be called"))
    half = {"PREPROCESS_GUARDRAIL_IDENTIFIER": "no-advice",
            "POSTPROCESS_GUARDRAIL_VERSION": "1"}
    for overrides in ({}, half):
        turn = make_pipeline(kb, guard=guard).run(Request("s1", "What is an Amazon Echo Show"),
                                                  settings.with_overrides(**overrides))
        assert turn.answer.qid == "Alexa.001"
    assert guard.calls == []


def test_a_guardrail_that_cannot_run_lets_nothing_through(kb, settings):
    guard = CountingGuard(error=GuardrailError("Bedrock guardrail gr-1 could not be applied"))
    for overrides in (PRE, POST):
        turn = make_pipeline(kb, guard=guard).run(Request("s1", "What is an Amazon Echo Show"),
                                                  settings.with_overrides(**overrides))
        assert turn.answer.source == "error"
        assert turn.answer.text == settings.get("ERRORMESSAGE")


def test_through_the_lex_handler_with_a_local_definition(kb, use_service, tmp_path):
    (tmp_path / "no-advice.json").write_text(json.dumps(INVESTING))
    use_service(make_pipeline(kb, guard=GuardSelector(tmp_path)),
                MemorySettingsRepo(**PRE, **POST))
    assert first_text(lambda_handler(text_event("which stocks should I invest in?"), None)) == \
        "I can't give investment advice."
    assert "Echo Show" in first_text(lambda_handler(text_event("What is an Amazon Echo Show"),
                                                    None))
