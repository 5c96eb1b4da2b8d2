"""The users table in DynamoDB: the AWS adapter of :class:`fulfillment.memory.UserStore`.

One item per user, keyed by ``UserId`` as in QnABot, with the attributes of
:func:`fulfillment.memory.record_to_json`. ``chatMessageHistory`` is kept as a JSON string, as
QnABot keeps it, so a long history never meets DynamoDB's nesting limits. ``TimeToLive`` holds
epoch seconds: enable TTL on that attribute (the template does) and DynamoDB deletes expired
users by itself; 0 means "never expires" and is left out so TTL ignores the item.

Example:
    >>> users = DynamoDbUserStore("qnabot-users")  # doctest: +SKIP
    >>> users.get("alice")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from fulfillment.memory import UserRecord, record_from_json, record_to_json
from knowledge.settings_dynamodb import describe_table_error

TTL_ATTRIBUTE = "TimeToLive"


class UsersTableError(RuntimeError):
    """The users table cannot be read or written; the message names the table and the fix."""


def _to_attributes(record: UserRecord) -> dict[str, Any]:
    data = record_to_json(record)
    item: dict[str, Any] = {
        "UserId": {"S": data["UserId"]},
        "SessionId": {"S": data["SessionId"]},
        "chatMessageHistory": {"S": json.dumps(data["chatMessageHistory"], ensure_ascii=False)},
        "InteractionCount": {"N": str(data["InteractionCount"])},
        "LastSeen": {"N": str(Decimal(repr(data["LastSeen"])))},
    }
    if data[TTL_ATTRIBUTE]:
        item[TTL_ATTRIBUTE] = {"N": str(data[TTL_ATTRIBUTE])}
    return item


def _from_attributes(item: dict[str, Any]) -> UserRecord:
    history = item.get("chatMessageHistory", {}).get("S", "[]")
    try:
        messages = json.loads(history)
    except ValueError:
        messages = []  # a corrupt history is a fresh start, not a failed turn
    return record_from_json({
        "UserId": item["UserId"]["S"],
        "SessionId": item.get("SessionId", {}).get("S", ""),
        "chatMessageHistory": messages if isinstance(messages, list) else [],
        "InteractionCount": int(item.get("InteractionCount", {}).get("N", "0")),
        "LastSeen": float(item.get("LastSeen", {}).get("N", "0")),
        TTL_ATTRIBUTE: int(Decimal(item.get(TTL_ATTRIBUTE, {}).get("N", "0"))),
    })


class DynamoDbUserStore:
    """User records in the DynamoDB table ``table_name`` (hash key ``UserId``, a string)."""

    def __init__(self, table_name: str, client: Any = None):
        self.table_name = table_name
        self.client = client or boto3.client("dynamodb")

    def get(self, user_id: str) -> UserRecord | None:
        """The user's record (strongly consistent, so the previous turn is always seen)."""
        try:
            reply = self.client.get_item(TableName=self.table_name,
                                         Key={"UserId": {"S": user_id}}, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise self._error("read user", exc) from exc
        item = reply.get("Item")
        return _from_attributes(item) if item else None

    def put(self, record: UserRecord) -> None:
        """Create or replace the user's record."""
        try:
            self.client.put_item(TableName=self.table_name, Item=_to_attributes(record))
        except (ClientError, BotoCoreError) as exc:
            raise self._error("write user", exc) from exc

    def _error(self, what: str, exc: Exception) -> UsersTableError:
        return UsersTableError(describe_table_error(
            self.table_name, what, exc, variable="USERS_TABLE",
            actions="dynamodb:GetItem and dynamodb:PutItem"))
