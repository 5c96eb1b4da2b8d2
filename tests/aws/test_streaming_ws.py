"""Generated answers stream to the web client in AWS over the API Gateway WebSocket: only to
the connection its own Cognito identity registered for the session, never on voice, and the
Lex response stays whole."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from fulfillment import handler
from fulfillment.llm.scripted import ScriptedLLM
from fulfillment.streaming_connect import lambda_handler as connect_handler
from fulfillment.streaming_connect import register
from fulfillment.streaming_ws import WebSocketStreamer
from tests.fulfillment.conftest import MemorySettingsRepo, build_kb, make_pipeline
from tests.fulfillment.lex_events import first_text, text_event

ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com/prod"
BO_PEEP = "What did Little Bo-Peep lose?"


def _clients():
    dynamodb = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x",
                            aws_secret_access_key="x")
    management = boto3.client("apigatewaymanagementapi", region_name="us-east-1",
                              endpoint_url=ENDPOINT, aws_access_key_id="x",
                              aws_secret_access_key="x")
    return dynamodb, Stubber(dynamodb), management, Stubber(management)


def _lookup(stub, session_id, connection):
    stub.add_response("get_item", {"Item": {"sessionId": {"S": session_id},
                                            "connectionId": {"S": connection}}} if connection
                      else {}, {"TableName": "streaming", "Key": {"sessionId": {"S": session_id}},
                                "ConsistentRead": True})


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        self.now += 1.0  # every post far enough apart
        return self.now


def test_partials_go_to_the_sessions_connection_and_the_lex_reply_stays_whole(tmp_path):
    dynamodb, db_stub, management, ws_stub = _clients()
    _lookup(db_stub, "us-east-1:1234-abcd", "conn-1")
    for text in ("LLM Answer: She", "LLM Answer: She lost", "LLM Answer: She lost her",
                 "LLM Answer: She lost her sheep."):
        ws_stub.add_response("post_to_connection", {}, {"ConnectionId": "conn-1", "Data": json.dumps(
            {"type": "partial", "sessionId": "us-east-1:1234-abcd", "text": text}).encode()})
    kb = build_kb(tmp_path / "k.sqlite")
    handler.set_service(handler.FulfillmentService(
        make_pipeline(kb, ScriptedLLM(["She lost her sheep."])), MemorySettingsRepo()))
    handler._streamers["streamer"] = WebSocketStreamer("streaming", ENDPOINT, dynamodb=dynamodb,
                                                       management=management, clock=Clock())
    try:
        with db_stub, ws_stub:
            response = handler.lambda_handler(text_event(BO_PEEP), None)
        ws_stub.assert_no_pending_responses()
    finally:
        handler._streamers.clear()
        handler.set_service(None)
    assert first_text(response) == "LLM Answer: She lost her sheep."


def test_a_session_without_a_connection_and_a_gone_client_cost_nothing(tmp_path):
    dynamodb, db_stub, management, ws_stub = _clients()
    _lookup(db_stub, "s-none", None)
    _lookup(db_stub, "s-gone", "conn-gone")
    ws_stub.add_client_error("post_to_connection", "GoneException", http_status_code=410,
                             expected_params={"ConnectionId": "conn-gone", "Data": ANY})
    streamer = WebSocketStreamer("streaming", ENDPOINT, dynamodb=dynamodb,
                                 management=management, clock=Clock())
    with db_stub, ws_stub:
        assert streamer.listener_for("s-none") is None
        send = streamer.listener_for("s-gone")
        send("one")
        send("two")  # the client left: nothing more is posted this turn
    ws_stub.assert_no_pending_responses()


def test_partials_are_posted_at_most_four_times_a_second():
    dynamodb, db_stub, management, ws_stub = _clients()
    _lookup(db_stub, "s1", "conn-1")
    ws_stub.add_response("post_to_connection", {}, {"ConnectionId": "conn-1", "Data": ANY})
    times = iter([10.0, 10.1, 10.2])
    streamer = WebSocketStreamer("streaming", ENDPOINT, dynamodb=dynamodb,
                                 management=management, clock=lambda: next(times))
    with db_stub, ws_stub:
        send = streamer.listener_for("s1")
        for text in ("a", "ab", "abc"):
            send(text)
    ws_stub.assert_no_pending_responses()  # one post: the others came within 0.25 s


@pytest.fixture
def table():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="streaming", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "sessionId", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "sessionId",
                                                   "AttributeType": "S"}])
        yield client


def _connect(session_id, identity, connection="c1"):
    return {"requestContext": {"routeKey": "$connect", "connectionId": connection,
                               "identity": {"cognitoIdentityId": identity}},
            "queryStringParameters": {"sessionId": session_id} if session_id else None}


def test_a_session_belongs_to_the_identity_that_registered_it_first(table):
    assert register(_connect("sess-1", "us-east-1:alice"), table, "streaming")["statusCode"] == 200
    assert register(_connect("sess-1", "us-east-1:alice", "c2"), table,
                    "streaming")["statusCode"] == 200  # a reconnect moves it
    refused = register(_connect("sess-1", "us-east-1:mallory", "c3"), table, "streaming")
    assert refused["statusCode"] == 403
    item = table.get_item(TableName="streaming", Key={"sessionId": {"S": "sess-1"}})["Item"]
    assert item["connectionId"] == {"S": "c2"}


@pytest.mark.parametrize(("session_id", "identity", "status"), [
    ("", "us-east-1:alice", 400), ("x" * 101, "us-east-1:alice", 400),
    ("bad id!", "us-east-1:alice", 400), ("sess-2", "", 403)])
def test_a_connection_without_a_valid_session_or_identity_is_refused(table, session_id, identity,
                                                                     status):
    assert register(_connect(session_id, identity), table, "streaming")["statusCode"] == status


def test_other_routes_are_accepted_without_work():
    assert connect_handler({"requestContext": {"routeKey": "$disconnect"}}, None) == \
        {"statusCode": 200}
