"""Bedrock embeddings: exact request bodies, reply checks and error messages (Stubber)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from botocore.stub import ANY, Stubber

from knowledge.embeddings.base import EmbeddingsError
from knowledge.embeddings.bedrock import COHERE_BATCH, TITAN_V2, BedrockEmbeddings
from tests.knowledge.embeddings.stubs import aws_client, bedrock_reply, record_params, unit

COHERE = "cohere.embed-english-v3"


def invoke_params(model: str) -> dict[str, Any]:
    return {"modelId": model, "body": ANY, "contentType": "application/json",
            "accept": "application/json"}


def ramp(length: int, start: float = 1.0) -> list[float]:
    return [start + i for i in range(length)]


@pytest.fixture
def client() -> Iterator[Any]:
    yield aws_client("bedrock-runtime")


def sent_bodies(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(call["body"]) for call in calls]


def test_titan_sends_one_text_per_call_with_dimensions_and_normalize(client: Any) -> None:
    calls = record_params(client, "InvokeModel")
    model = BedrockEmbeddings(TITAN_V2, dimensions=256, client=client, max_workers=1)
    with Stubber(client) as stub:
        for start in (1.0, 2.0):
            stub.add_response("invoke_model", bedrock_reply({"embedding": ramp(256, start)}),
                              invoke_params(TITAN_V2))
        vectors = model.embed(["How do I reset my password?", "Opening hours"], "a")
        stub.assert_no_pending_responses()
    assert sent_bodies(calls) == [
        {"inputText": "How do I reset my password?", "dimensions": 256, "normalize": True},
        {"inputText": "Opening hours", "dimensions": 256, "normalize": True},
    ]
    assert vectors.shape == (2, 256)
    np.testing.assert_allclose(vectors[1], unit(ramp(256, 2.0)), rtol=1e-5)


def test_titan_without_normalize_still_returns_unit_vectors(client: Any) -> None:
    calls = record_params(client, "InvokeModel")
    model = BedrockEmbeddings(TITAN_V2, dimensions=512, normalize=False, client=client)
    with Stubber(client) as stub:
        stub.add_response("invoke_model", bedrock_reply({"embedding": ramp(512)}),
                          invoke_params(TITAN_V2))
        vector = model.embed(["hello"])[0]
    assert sent_bodies(calls)[0]["normalize"] is False
    assert abs(np.linalg.norm(vector) - 1.0) < 1e-5


class EchoBedrock:
    """A thread-safe fake client whose vector encodes the text's number, for pool ordering."""

    def invoke_model(self, modelId: str, body: str, **_: Any) -> dict[str, Any]:
        number = int(json.loads(body)["inputText"].split()[-1])
        vector = [0.0] * 256
        vector[number] = 1.0
        return bedrock_reply({"embedding": vector})


def test_titan_batches_on_a_thread_pool_keep_input_order() -> None:
    model = BedrockEmbeddings(TITAN_V2, dimensions=256, client=EchoBedrock(), max_workers=4)
    vectors = model.embed([f"text {n}" for n in range(40)])
    assert [int(np.argmax(row)) for row in vectors] == list(range(40))


def test_blank_texts_get_zero_vectors_without_a_call(client: Any) -> None:
    model = BedrockEmbeddings(TITAN_V2, dimensions=256, client=client)
    with Stubber(client) as stub:
        vectors = model.embed(["", "   "])
        stub.assert_no_pending_responses()
    assert not vectors.any()


def test_cohere_sends_batches_of_96_with_the_input_type_of_documents(client: Any) -> None:
    calls = record_params(client, "InvokeModel")
    model = BedrockEmbeddings(COHERE, dimensions=1024, client=client)
    texts = [f"passage {i}" for i in range(COHERE_BATCH + 4)]
    with Stubber(client) as stub:
        for size in (COHERE_BATCH, 4):
            stub.add_response("invoke_model",
                              bedrock_reply({"embeddings": [ramp(1024)] * size,
                                            "response_type": "embeddings_floats"}),
                              invoke_params(COHERE))
        vectors = model.embed(texts, "a")
    assert sent_bodies(calls) == [
        {"texts": texts[:COHERE_BATCH], "input_type": "search_document", "truncate": "END"},
        {"texts": texts[COHERE_BATCH:], "input_type": "search_document", "truncate": "END"},
    ]
    assert vectors.shape == (len(texts), 1024)


def test_cohere_embeds_queries_as_search_queries(client: Any) -> None:
    calls = record_params(client, "InvokeModel")
    model = BedrockEmbeddings("cohere.embed-multilingual-v3", dimensions=1024, client=client)
    with Stubber(client) as stub:
        stub.add_response("invoke_model", bedrock_reply({"embeddings": [ramp(1024)]}),
                          invoke_params("cohere.embed-multilingual-v3"))
        model.embed(["¿Dónde está la estación?"], "q")
    assert sent_bodies(calls)[0]["input_type"] == "search_query"


def test_cohere_reply_with_too_few_embeddings_is_an_error(client: Any) -> None:
    model = BedrockEmbeddings(COHERE, dimensions=1024, client=client)
    with Stubber(client) as stub:
        stub.add_response("invoke_model", bedrock_reply({"embeddings": [ramp(1024)]}),
                          invoke_params(COHERE))
        with pytest.raises(EmbeddingsError, match="returned 1 embeddings for 2 texts"):
            model.embed(["one", "two"])


def test_model_id_names_the_bedrock_model_and_dimensions() -> None:
    assert BedrockEmbeddings().model_id == "bedrock/amazon.titan-embed-text-v2:0/1024"
    assert BedrockEmbeddings(dimensions=256).dimension == 256


@pytest.mark.parametrize("model, dimensions", [(TITAN_V2, 384), (TITAN_V2, 1536), (COHERE, 512)])
def test_unsupported_dimensions_are_refused_with_the_allowed_values(
        model: str, dimensions: int) -> None:
    with pytest.raises(EmbeddingsError, match="EMBEDDINGS_DIMENSIONS") as error:
        BedrockEmbeddings(model, dimensions=dimensions)
    assert "1024" in str(error.value)


def test_an_unsupported_model_is_refused_naming_the_supported_ones() -> None:
    with pytest.raises(EmbeddingsError, match="amazon.titan-embed-text-v2:0"):
        BedrockEmbeddings("amazon.titan-embed-text-v1", dimensions=1024)


def test_the_client_is_built_lazily_with_adaptive_retries_and_the_read_timeout() -> None:
    model = BedrockEmbeddings(region_name="us-east-1", read_timeout=12.5)
    assert model._client._client is None  # nothing is built until the first use
    config = model.client.meta.config
    # botocore counts the first attempt too: max_attempts=4 retries is 5 attempts in all.
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 5}
    assert config.read_timeout == 12.5


@pytest.mark.parametrize("code, hint", [
    ("ThrottlingException", "throttled after 4 retries"),
    ("AccessDeniedException", "bedrock:InvokeModel"),
    ("ValidationException", "EMBEDDINGS_DIMENSIONS"),
])
def test_service_errors_become_embeddings_errors_with_advice(
        client: Any, code: str, hint: str) -> None:
    model = BedrockEmbeddings(TITAN_V2, dimensions=1024, client=client)
    with Stubber(client) as stub:
        stub.add_client_error("invoke_model", service_error_code=code,
                              service_message="something went wrong", http_status_code=400)
        with pytest.raises(EmbeddingsError) as error:
            model.embed(["hello"])
    message = str(error.value)
    assert TITAN_V2 in message and code in message and hint in message


@pytest.mark.parametrize("reply, problem", [
    (b"<html>gateway error</html>", "invalid JSON"),
    ([1, 2, 3], "expected a JSON object"),
    ({"message": "no embedding here"}, "without a list"),
    ({"embedding": ["a", "b"]}, "non-numbers"),
    ({"embedding": [0.5, 0.5, 0.5]}, "length 3, expected 1024"),
])
def test_malformed_replies_are_embeddings_errors(client: Any, reply: Any, problem: str) -> None:
    model = BedrockEmbeddings(TITAN_V2, dimensions=1024, client=client)
    with Stubber(client) as stub:
        stub.add_response("invoke_model", bedrock_reply(reply), invoke_params(TITAN_V2))
        with pytest.raises(EmbeddingsError, match=problem):
            model.embed(["hello"])
