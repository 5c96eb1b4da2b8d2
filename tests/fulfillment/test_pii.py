"""Questions carrying personal information are refused, not searched, kept or logged."""

from __future__ import annotations

import json

import boto3
from botocore.stub import Stubber

from fulfillment.handler import lambda_handler
from fulfillment.memory import InMemoryUserStore, Memory
from fulfillment.model import Request
from fulfillment.pii import DEFAULT_REJECTION, ComprehendPiiDetector, PiiError

from .conftest import MemorySettingsRepo, build_kb, make_pipeline
from .lex_events import first_text, text_event

SSN_QUESTION = "My SSN is 123-45-6789, what is an Amazon Echo Show"
ON = {"PII_REJECTION_ENABLED": True}


class FakeDetector:
    def __init__(self, found=(), error=None):
        self.found, self.error, self.texts = set(found), error, []

    def detect(self, text, language):
        self.texts.append((text, language))
        if self.error:
            raise self.error
        return self.found


def test_a_question_with_pii_gets_the_rejection_item_and_is_not_searched_or_kept(
        tmp_path, settings):
    kb = build_kb(tmp_path / "k.sqlite", [
        {"qid": "PII.Reject", "q": ["pii_rejection_question"],
         "a": "Please don't share personal details."}])
    memory = Memory(InMemoryUserStore())
    pipeline = make_pipeline(kb, pii=FakeDetector({"SSN"}), memory=memory)
    turn = pipeline.run(Request("s1", SSN_QUESTION), settings.with_overrides(**ON))
    assert (turn.answer.source, turn.answer.qid) == ("rejected", "PII.Reject")
    assert kb.searches == []
    assert memory.history("s1", "s1") == ()


def test_without_a_rejection_item_a_default_refusal_is_given(kb, settings):
    turn = make_pipeline(kb, pii=FakeDetector({"EMAIL"})).run(
        Request("s1", "mail me at a@b.example"), settings.with_overrides(**ON))
    assert turn.answer.text == DEFAULT_REJECTION and not turn.answer.got_hits


def test_entity_types_not_in_the_setting_are_allowed(kb, settings):
    turn = make_pipeline(kb, pii=FakeDetector({"NAME"})).run(
        Request("s1", "What is an Amazon Echo Show"), settings.with_overrides(**ON))
    assert turn.answer.qid == "Alexa.001"


def test_the_check_is_off_by_default(kb, settings):
    detector = FakeDetector({"SSN"})
    turn = make_pipeline(kb, pii=detector).run(Request("s1", "What is an Amazon Echo Show"),
                                               settings)
    assert detector.texts == [] and turn.answer.qid == "Alexa.001"


def test_a_failing_check_does_not_stop_the_bot(kb, settings):
    detector = FakeDetector(error=PiiError("Comprehend could not check the question: throttled"))
    turn = make_pipeline(kb, pii=detector).run(Request("s1", "What is an Amazon Echo Show"),
                                               settings.with_overrides(**ON))
    assert turn.answer.qid == "Alexa.001"
    assert "PII check skipped" in turn.debug.degraded[0]


def test_a_refused_question_is_not_logged(kb, use_service, caplog):
    use_service(make_pipeline(kb, pii=FakeDetector({"SSN"})), MemorySettingsRepo(**ON))
    response = lambda_handler(text_event(SSN_QUESTION), None)
    assert first_text(response) == DEFAULT_REJECTION
    logged = json.dumps([{k: str(v) for k, v in vars(r).items()} for r in caplog.records])
    assert "123-45-6789" not in logged and "withheld: PII" in logged


def test_comprehend_is_asked_for_pii_entities_and_low_scores_are_ignored():
    client = boto3.client("comprehend", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("detect_pii_entities", {"Entities": [
            {"Score": 0.99, "Type": "SSN", "BeginOffset": 10, "EndOffset": 21},
            {"Score": 0.2, "Type": "NAME", "BeginOffset": 0, "EndOffset": 2}]},
            {"Text": SSN_QUESTION, "LanguageCode": "en"})
        assert ComprehendPiiDetector(client).detect(SSN_QUESTION, "en") == {"SSN"}
