"""The DynamoDB users table, against moto, driven through the Memory rules."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from fulfillment.memory import ChatMessage, Memory, UserRecord
from fulfillment.memory_dynamodb import DynamoDbUserStore, UsersTableError
from tests.aws.conftest import create_table

TABLE = "qnabot-users"


@pytest.fixture
def dynamodb():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE, "UserId")
        client.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": "TimeToLive"})
        yield client


def test_a_record_reads_back_exactly_as_it_was_put(dynamodb):
    users = DynamoDbUserStore(TABLE, dynamodb)
    record = UserRecord("alice", "s1", (ChatMessage("user", "Où est la gare ? 🚉"),
                                        ChatMessage("assistant", 'It is "there".\nLeft.')),
                        interaction_count=3, last_seen=1700000000.25, expires_at=1700259200)
    users.put(record)
    assert users.get("alice") == record
    assert users.get("bob") is None


def test_the_expiry_is_stored_in_the_ttl_attribute_as_epoch_seconds(dynamodb):
    users = DynamoDbUserStore(TABLE, dynamodb)
    Memory(users, clock=lambda: 1000.0).record_turn("alice", "s1", "Hi", "Hello",
                                                     max_messages=12, ttl_days=3)
    item = dynamodb.get_item(TableName=TABLE, Key={"UserId": {"S": "alice"}})["Item"]
    assert item["TimeToLive"] == {"N": str(1000 + 3 * 86400)}
    ttl = dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "TimeToLive"


def test_a_record_that_never_expires_has_no_ttl_attribute(dynamodb):
    users = DynamoDbUserStore(TABLE, dynamodb)
    users.put(UserRecord("alice", "s1", expires_at=0))
    item = dynamodb.get_item(TableName=TABLE, Key={"UserId": {"S": "alice"}})["Item"]
    assert "TimeToLive" not in item
    assert users.get("alice").expires_at == 0


def test_memory_keeps_the_bounded_history_of_the_current_session(dynamodb):
    memory = Memory(DynamoDbUserStore(TABLE, dynamodb), clock=lambda: 1000.0)
    for n in range(4):
        memory.record_turn("alice", "s1", f"q{n}", f"a{n}", max_messages=4, ttl_days=1)
    assert [m.text for m in memory.history("alice", "s1")] == ["q2", "a2", "q3", "a3"]
    assert memory.history("alice", "s2") == ()


def test_a_corrupt_history_is_a_fresh_start(dynamodb):
    dynamodb.put_item(TableName=TABLE, Item={"UserId": {"S": "alice"},
                                             "SessionId": {"S": "s1"},
                                             "chatMessageHistory": {"S": "{not json"}})
    assert DynamoDbUserStore(TABLE, dynamodb).get("alice").messages == ()


def test_a_missing_table_is_reported_with_the_variable_to_check(dynamodb):
    with pytest.raises(UsersTableError, match="no-such-table.*USERS_TABLE"):
        DynamoDbUserStore("no-such-table", dynamodb).get("alice")
