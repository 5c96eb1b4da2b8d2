"""Kendra (Retrieve and Query APIs) and Bedrock knowledge-base retrieval, with Stubber."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from fulfillment.kendra import KendraRetriever
from fulfillment.knowledge_base_retrieval import BedrockKnowledgeBaseRetriever
from fulfillment.retrieval import RetrievalError
from knowledge.settings import Settings

INDEX_1 = "0b5e7f4a-1c2d-4e3f-8a9b-0c1d2e3f4a5b"
INDEX_2 = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
SETTINGS = Settings.defaults().with_overrides(ALT_SEARCH_KENDRA_INDEXES=INDEX_1)


def client(service):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")


def retrieve_item(n, confidence="HIGH"):
    return {"Id": f"r{n}", "DocumentId": f"d{n}", "DocumentTitle": f"Doc {n}",
            "Content": f"Passage {n}.", "DocumentURI": f"https://example.com/{n}",
            "ScoreAttributes": {"ScoreConfidence": confidence}}


def query_item(n, confidence, kind="DOCUMENT"):
    item = {"Id": f"q{n}", "Type": kind, "DocumentTitle": {"Text": f"Doc {n}"},
            "DocumentExcerpt": {"Text": f"Excerpt {n}."}, "DocumentURI": f"https://example.com/{n}",
            "ScoreAttributes": {"ScoreConfidence": confidence}}
    if kind == "ANSWER":
        item["AdditionalAttributes"] = [{"Key": "AnswerText", "ValueType":
                                         "TEXT_WITH_HIGHLIGHTS_VALUE", "Value": {
                                             "TextWithHighlightsValue": {"Text": f"Answer {n}."}}}]
    return item


def test_kendra_retrieve_returns_passages_with_titles_and_links_up_to_the_max_count():
    kendra = client("kendra")
    with Stubber(kendra) as stub:
        stub.add_response("retrieve", {"ResultItems": [retrieve_item(n) for n in range(4)]},
                          {"IndexId": INDEX_1, "QueryText": "What is Lex?", "PageSize": 2})
        found = KendraRetriever(kendra).retrieve("What is Lex?", SETTINGS)
    assert [(p.text, p.title, p.url) for p in found] == [
        ("Passage 0.", "Doc 0", "https://example.com/0"),
        ("Passage 1.", "Doc 1", "https://example.com/1")]


def test_kendra_query_keeps_only_results_at_the_fallback_confidence_or_better():
    kendra = client("kendra")
    settings = SETTINGS.with_overrides(LLM_QA_USE_KENDRA_RETRIEVAL_API=False,
                                       ALT_SEARCH_KENDRA_FALLBACK_CONFIDENCE_SCORE="HIGH",
                                       ALT_SEARCH_KENDRA_MAX_DOCUMENT_COUNT=3)
    with Stubber(kendra) as stub:
        stub.add_response("query", {"ResultItems": [
            query_item(1, "MEDIUM"), query_item(2, "HIGH"), query_item(3, "VERY_HIGH", "ANSWER"),
            query_item(4, "LOW")]})
        found = KendraRetriever(kendra).retrieve("What is Lex?", settings)
    assert [(p.text, p.confidence) for p in found] == [("Answer 3.", "VERY_HIGH"),
                                                       ("Excerpt 2.", "HIGH")]


def test_every_configured_kendra_index_is_searched():
    kendra = client("kendra")
    settings = SETTINGS.with_overrides(ALT_SEARCH_KENDRA_INDEXES=f"{INDEX_1}, {INDEX_2}")
    with Stubber(kendra) as stub:
        stub.add_response("retrieve", {"ResultItems": []},
                          {"IndexId": INDEX_1, "QueryText": "q", "PageSize": 2})
        stub.add_response("retrieve", {"ResultItems": [retrieve_item(9)]},
                          {"IndexId": INDEX_2, "QueryText": "q", "PageSize": 2})
        assert [p.title for p in KendraRetriever(kendra).retrieve("q", settings)] == ["Doc 9"]


def test_a_failing_index_does_not_hide_the_passages_of_another():
    kendra = client("kendra")
    settings = SETTINGS.with_overrides(ALT_SEARCH_KENDRA_INDEXES=f"{INDEX_1},{INDEX_2}")
    with Stubber(kendra) as stub:
        stub.add_client_error("retrieve", "ThrottlingException", "slow down")
        stub.add_response("retrieve", {"ResultItems": [retrieve_item(9)]})
        assert [p.title for p in KendraRetriever(kendra).retrieve("q", settings)] == ["Doc 9"]


def test_kendra_is_not_configured_without_indexes():
    assert not KendraRetriever(client("kendra")).configured(Settings.defaults())


def test_a_kendra_error_names_the_index():
    kendra = client("kendra")
    with Stubber(kendra) as stub:
        stub.add_client_error("retrieve", "AccessDeniedException", "not allowed")
        with pytest.raises(RetrievalError, match=f"Kendra index {INDEX_1} failed"):
            KendraRetriever(kendra).retrieve("q", SETTINGS)


def test_the_bedrock_knowledge_base_returns_passages_with_their_source():
    agent = client("bedrock-agent-runtime")
    settings = Settings.defaults().with_overrides(KNOWLEDGE_BASE_ID="KB12345678")
    with Stubber(agent) as stub:
        stub.add_response("retrieve", {"retrievalResults": [
            {"content": {"text": "Lima is the capital."}, "score": 0.8,
             "location": {"type": "S3", "s3Location": {"uri": "s3://docs/peru.pdf"}}},
            {"content": {"text": "Cusco is old."}, "score": 0.5,
             "location": {"type": "WEB", "webLocation": {"url": "https://example.com/cusco"}}},
        ]}, {"knowledgeBaseId": "KB12345678", "retrievalQuery": {"text": "capital of Peru"},
             "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 3}}})
        found = BedrockKnowledgeBaseRetriever(agent).retrieve("capital of Peru", settings)
    assert [(p.title, p.url) for p in found] == [("peru.pdf", "s3://docs/peru.pdf"),
                                                 ("cusco", "https://example.com/cusco")]
