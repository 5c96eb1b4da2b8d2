"""The user's embeddings Lambda: QnABot's payload, reply checks and errors (Stubber)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from botocore.stub import ANY, Stubber

from knowledge.embeddings.base import EmbeddingsError
from knowledge.embeddings.lambda_plugin import LambdaEmbeddings
from tests.knowledge.embeddings.stubs import aws_client, record_params, stream, unit

ARN = "arn:aws:lambda:us-east-1:123456789012:function:qna-embeddings"
INVOKE = {"FunctionName": ARN, "InvocationType": "RequestResponse", "Payload": ANY}


def lambda_reply(payload: Any, function_error: str | None = None) -> dict[str, Any]:
    reply = {"StatusCode": 200, "Payload": stream(payload)}
    if function_error:
        reply["FunctionError"] = function_error
    return reply


def model_with(client: Any, dimension: int = 4) -> LambdaEmbeddings:
    return LambdaEmbeddings(ARN, dimension=dimension, client=client, max_workers=1)


def test_each_text_is_sent_with_qnabots_input_type_and_text() -> None:
    client = aws_client("lambda")
    calls = record_params(client, "Invoke")
    with Stubber(client) as stub:
        stub.add_response("invoke", lambda_reply({"embedding": [1, 0, 0, 0]}), INVOKE)
        stub.add_response("invoke", lambda_reply({"embedding": [3, 4, 0, 0]}), INVOKE)
        vectors = model_with(client).embed(["Our opening hours are 9-5.", "Closed on Sunday"],
                                           "a")
        stub.assert_no_pending_responses()
    assert [json.loads(call["Payload"]) for call in calls] == [
        {"inputType": "a", "inputText": "Our opening hours are 9-5."},
        {"inputType": "a", "inputText": "Closed on Sunday"},
    ]
    np.testing.assert_allclose(vectors, [[1, 0, 0, 0], unit([3, 4, 0, 0])], rtol=1e-6)


def test_model_id_names_the_function_and_dimension() -> None:
    assert LambdaEmbeddings(ARN, dimension=1536).model_id == "lambda/qna-embeddings/1536"


@pytest.mark.parametrize("reply, function_error, problem", [
    ({"errorMessage": "model not loaded", "errorType": "RuntimeError"}, "Unhandled",
     "raised RuntimeError: model not loaded"),
    ({"errorMessage": "bad input"}, None, "bad input"),
    ({"vector": [1, 2, 3, 4]}, None, 'no "embedding" list'),
    ({"embedding": [1, 2, 3]}, None, "returned 3 numbers, expected 4"),
    ({"embedding": ["x", "y", "z", "w"]}, None, "not a list of numbers"),
    (b"not json", None, "invalid JSON"),
])
def test_bad_replies_are_errors_naming_the_function_and_the_problem(
        reply: Any, function_error: str | None, problem: str) -> None:
    client = aws_client("lambda")
    with Stubber(client) as stub:
        stub.add_response("invoke", lambda_reply(reply, function_error), INVOKE)
        with pytest.raises(EmbeddingsError) as error:
            model_with(client).embed(["hello"])
    assert "qna-embeddings" in str(error.value)
    assert problem in str(error.value)


def test_a_missing_function_is_an_error_naming_it() -> None:
    client = aws_client("lambda")
    with Stubber(client) as stub:
        stub.add_client_error("invoke", service_error_code="ResourceNotFoundException",
                              service_message="Function not found", http_status_code=404)
        with pytest.raises(EmbeddingsError, match="qna-embeddings failed: "
                                                  "ResourceNotFoundException: Function not found"):
            model_with(client).embed(["hello"])


class EchoLambda:
    """A thread-safe fake client: the vector's hot index is the text's number."""

    def invoke(self, FunctionName: str, Payload: str, **_: Any) -> dict[str, Any]:
        number = int(json.loads(Payload)["inputText"].split()[-1])
        return lambda_reply({"embedding": [1.0 if i == number else 0.0 for i in range(32)]})


def test_batches_on_a_thread_pool_keep_input_order() -> None:
    model = LambdaEmbeddings(ARN, dimension=32, client=EchoLambda(), max_workers=4)
    vectors = model.embed([f"text {n}" for n in range(32)])
    assert [int(np.argmax(row)) for row in vectors] == list(range(32))


def test_a_non_positive_dimension_is_refused() -> None:
    with pytest.raises(EmbeddingsError, match="EMBEDDINGS_DIMENSIONS"):
        LambdaEmbeddings(ARN, dimension=0)
