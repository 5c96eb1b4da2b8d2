"""The classifier in AWS: trained by the import/export function, kept in S3 (moto), read by
every function over OpenSearch (the in-memory emulator), each built cold as a new container
would be."""

from __future__ import annotations

import json
import logging

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from content_designer.api import create_app
from content_designer.auth import token_authorizer
from content_designer.feedback_s3 import S3FeedbackLog
from content_designer.jobs_s3 import (
    TRAIN_CLASSIFIER_EVENT,
    InvokeClassifierTraining,
    JobWorker,
    S3JobQueue,
    lambda_handler,
)
from content_designer.local_server import LocalApi
from content_designer.services import DesignerServices
from knowledge import backends
from knowledge import knowledge_base as kb_module
from knowledge.classifier import MemoryClassifierRepo
from knowledge.classifier_s3 import VERSION_TTL, S3ClassifierRepo
from knowledge.embeddings.hashing import HashingEmbeddings
from knowledge.items import parse_item
from knowledge.knowledge_base import KnowledgeBase
from knowledge.settings import Settings
from knowledge.stores.opensearch_store import OpenSearchStore
from tests.aws.conftest import BUCKET
from tests.aws.opensearch_emulator import emulated_client
from tests.aws.test_jobs_s3 import s3_event
from tests.content_designer.conftest import TOKEN, ApiClient
from tests.knowledge.test_classifier import NEAR_MISS

KEY = "classifier/qnabot.npz"
TRAINER = "qnabot-import-export"
#: Asked of the transit items: the classifier places it; the cosine alone is below threshold.
PARAPHRASE = "next stop please"
#: The thresholds this scenario is written for, with the hashing test model (the shipped
#: defaults are chosen for the real model and may move).
DEFAULTS = Settings.defaults().with_overrides(CLASSIFIER_NONE_SIMILARITY=0.6,
                                              EMBEDDINGS_SCORE_THRESHOLD=0.85)
COSINE_ONLY = DEFAULTS.with_overrides(CLASSIFIER_ENABLE=False)


class CountingEmbeddings(HashingEmbeddings):
    """The test model, counting the texts sent to it (Bedrock calls, in AWS)."""

    def __init__(self) -> None:
        super().__init__(dimension=128)
        self.texts = 0

    def embed(self, texts, input_type="q"):
        self.texts += len(texts)
        return super().embed(texts, input_type)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def transit_file() -> bytes:
    return json.dumps({"qna": [{"qid": qid, "q": questions, "a": f"Answer {qid}"}
                               for qid, questions in NEAR_MISS.items()]}).encode()


@pytest.fixture
def s3_calls(s3):
    """The S3 operations sent, in order (a botocore event hook on the client)."""
    calls: list[str] = []
    s3.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    return calls


@pytest.fixture
def opensearch():
    """One OpenSearch domain; ``opensearch()`` is a new container's store on it."""
    client, _ = emulated_client()
    return lambda: OpenSearchStore(client, "qnabot", sleep=lambda seconds: None)


@pytest.fixture
def big_knowledge_bases(monkeypatch):
    """Every knowledge base counts as too big to train inside an edit or an import."""
    monkeypatch.setattr(kb_module, "INLINE_TRAINING_ITEMS", 0)


def cold_kb(opensearch, s3, clock=None, **kw) -> KnowledgeBase:
    """A knowledge base as a new Lambda container builds it: nothing cached."""
    repo = S3ClassifierRepo(BUCKET, KEY, client=s3, **({"clock": clock} if clock else {}))
    return KnowledgeBase(opensearch(), CountingEmbeddings(), repo, **kw)


def import_transit_items(opensearch, s3) -> dict:
    """Drop the transit items into imports/ and run the import/export function on the event."""
    s3.put_object(Bucket=BUCKET, Key="imports/transit.json", Body=transit_file())
    worker = JobWorker(lambda retrain: cold_kb(opensearch, s3, retrain_large=retrain),
                       Settings.defaults)
    return lambda_handler(s3_event("imports/transit.json"), worker=worker, client=s3)


def best_qid(kb: KnowledgeBase, question: str, settings: Settings = DEFAULTS) -> str | None:
    best = kb.search(question, settings).best
    return best.item.qid if best else None


# --- trained once, used by every function ----------------------------------------------------

def test_an_import_trains_the_classifier_into_s3_and_a_cold_fulfillment_answers_with_it(
        opensearch, s3, big_knowledge_bases):
    result = import_transit_items(opensearch, s3)

    assert result["jobs"][0]["state"] == "succeeded"
    assert result["classifier"]["state"] == "trained" and result["classifier"]["items"] == 3
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ServerSideEncryption"] == "AES256"
    fulfillment = cold_kb(opensearch, s3)
    answered = fulfillment.search(PARAPHRASE, DEFAULTS)
    assert answered.best.item.qid == "Stops.Next" and answered.classifier == "trained"
    assert best_qid(fulfillment, PARAPHRASE, COSINE_ONLY) is None  # what it was without


def test_a_small_knowledge_base_trains_inside_the_import(opensearch, s3):
    result = import_transit_items(opensearch, s3)

    assert "classifier" not in result  # trained with the items, before the job ended
    assert best_qid(cold_kb(opensearch, s3), PARAPHRASE) == "Stops.Next"


def test_training_reads_the_stored_vectors_and_embeds_nothing(opensearch):
    kb = KnowledgeBase(opensearch(), CountingEmbeddings(), MemoryClassifierRepo())
    kb.put_items([parse_item({"qid": qid, "q": qs, "a": f"Answer {qid}"})
                  for qid, qs in NEAR_MISS.items()])
    trainer = KnowledgeBase(opensearch(), CountingEmbeddings(), MemoryClassifierRepo())

    model = trainer.train_classifier()

    assert model is not None and set(model.qids) == set(NEAR_MISS)
    assert trainer.embeddings.texts == 0


def test_with_a_bucket_configured_every_function_opens_the_classifier_in_s3(monkeypatch):
    monkeypatch.setenv("QNABOT_STORE", "opensearch")
    monkeypatch.setenv("OPENSEARCH_INDEX", "faq")
    monkeypatch.setenv("CLASSIFIER_BUCKET", "qnabot-jobs-abc")
    repo = backends.open_classifier_repo()
    assert isinstance(repo, S3ClassifierRepo) and repo.location == "s3://qnabot-jobs-abc/classifier/faq.npz"
    monkeypatch.delenv("CLASSIFIER_BUCKET")
    assert isinstance(backends.open_classifier_repo(), MemoryClassifierRepo)


# --- cheap on every turn ---------------------------------------------------------------------

def test_a_warm_function_asks_s3_at_most_once_a_minute_and_then_only_for_a_new_model(
        opensearch, s3, s3_calls):
    import_transit_items(opensearch, s3)
    clock = Clock()
    fulfillment = cold_kb(opensearch, s3, clock)
    s3_calls.clear()

    assert best_qid(fulfillment, PARAPHRASE) == "Stops.Next"  # cold: HEAD, then GET
    assert s3_calls == ["HeadObject", "GetObject"]
    for _ in range(20):
        fulfillment.search(PARAPHRASE, DEFAULTS)
    clock.now += VERSION_TTL - 1
    fulfillment.search(PARAPHRASE, DEFAULTS)
    assert s3_calls == ["HeadObject", "GetObject"]  # warm turns within the minute: none

    clock.now += 1
    fulfillment.search(PARAPHRASE, DEFAULTS)
    assert s3_calls[2:] == ["HeadObject"]  # the same ETag: the model is not read again

    cold_kb(opensearch, s3).put_items([parse_item(
        {"qid": "Lost.Found", "q": ["where is lost and found"], "a": "Central."})])
    clock.now += VERSION_TTL
    s3_calls.clear()
    assert "Lost.Found" in fulfillment.classifier.current().qids
    assert s3_calls == ["HeadObject", "GetObject"]


# --- S3 failing never fails a turn -----------------------------------------------------------

def unreachable(**_):
    raise EndpointConnectionError(endpoint_url="https://s3.us-east-1.amazonaws.com")


def test_with_s3_unreachable_turns_match_on_the_cosine(opensearch, s3, caplog):
    import_transit_items(opensearch, s3)
    s3.meta.events.register("before-call.s3", unreachable)
    clock = Clock()
    fulfillment = cold_kb(opensearch, s3, clock)

    with caplog.at_level(logging.WARNING, logger="knowledge.classifier_s3"):
        for _ in range(3):
            result = fulfillment.search("which is the next stop", DEFAULTS)
            assert result.best.item.qid == "Stops.Next" and result.classifier == ""
            assert best_qid(fulfillment, PARAPHRASE) is None
            clock.now += VERSION_TTL

    [warning] = caplog.records  # once, not once a minute
    assert "s3://" in warning.getMessage() and "cosine" in warning.getMessage()


def test_a_loaded_model_is_kept_while_s3_fails_and_a_new_one_read_when_it_is_back(
        opensearch, s3):
    import_transit_items(opensearch, s3)
    clock = Clock()
    fulfillment = cold_kb(opensearch, s3, clock)
    assert best_qid(fulfillment, PARAPHRASE) == "Stops.Next"
    cold_kb(opensearch, s3).put_items([parse_item(
        {"qid": "Lost.Found", "q": ["where is lost and found"], "a": "Central."})])

    failing = {"GetObject"}  # a new ETag, but its GET fails
    s3.meta.events.register("before-call.s3", lambda model, **kw: unreachable()
                            if model.name in failing else None)
    clock.now += VERSION_TTL
    assert best_qid(fulfillment, PARAPHRASE) == "Stops.Next"
    assert "Lost.Found" not in fulfillment.classifier.current().qids

    failing.clear()
    clock.now += VERSION_TTL
    assert "Lost.Found" in fulfillment.classifier.current().qids


# --- an edit in the designer -----------------------------------------------------------------

@pytest.fixture
def lambda_client():
    client = boto3.client("lambda", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def designer(opensearch, s3, retrain_large) -> tuple[ApiClient, KnowledgeBase]:
    """The designer's API over a cold knowledge base, as its Lambda builds it."""
    kb = cold_kb(opensearch, s3, retrain_large=retrain_large)
    services = DesignerServices(kb=kb, settings_repo=None, jobs=S3JobQueue(BUCKET, s3),
                                feedback=S3FeedbackLog(BUCKET, s3),
                                authorize=token_authorizer(TOKEN))
    return ApiClient(LocalApi(create_app(services))), kb


def test_an_edit_of_a_big_knowledge_base_has_the_import_export_function_train(
        opensearch, s3, lambda_client, big_knowledge_bases):
    import_transit_items(opensearch, s3)
    client, stubber = lambda_client
    stubber.add_response("invoke", {"StatusCode": 202}, expected_params={
        "FunctionName": TRAINER, "InvocationType": "Event",
        "Payload": json.dumps(TRAIN_CLASSIFIER_EVENT).encode()})
    api, kb = designer(opensearch, s3, InvokeClassifierTraining(TRAINER, client=client))

    reply = api.put("/items/Lost.Found", {"q": ["where is lost and found"], "a": "Central."})

    assert reply.status == 201
    assert "Lost.Found" not in kb.classifier.current().qids  # not trained in the API's 29 s
    trained = lambda_handler(TRAIN_CLASSIFIER_EVENT, worker=JobWorker(
        lambda retrain: cold_kb(opensearch, s3, retrain_large=retrain), Settings.defaults))
    assert trained == {"jobs": [], "classifier": {**trained["classifier"], "state": "trained",
                                                  "items": 4}}
    assert "Lost.Found" in cold_kb(opensearch, s3).classifier.current().qids


def test_an_edit_is_kept_when_the_training_cannot_be_started(
        opensearch, s3, lambda_client, big_knowledge_bases):
    client, stubber = lambda_client
    stubber.add_client_error("invoke", "TooManyRequestsException", http_status_code=429)
    api, kb = designer(opensearch, s3, InvokeClassifierTraining(TRAINER, client=client))

    reply = api.put("/items/Lost.Found", {"q": ["where is lost and found"], "a": "Central."})

    assert reply.status == 201 and kb.store.get("Lost.Found") is not None
    assert "could not start classifier training" in kb.classifier.last_error
