"""The streaming WebSocket's Lambda: registers which connection receives a Lex session's
partial answers (see :mod:`fulfillment.streaming_ws`).

The client connects to ``wss://<api>/<stage>?sessionId=<its Lex session id>``, signed with its
Cognito identity's credentials (the route uses IAM authorization). ``$connect`` records
``sessionId -> connectionId`` in ``STREAMING_TABLE`` for two hours. A session id belongs to the
identity that registered it first: another identity's attempt is refused (403), so nobody can
read someone else's answers by guessing their session id. ``$disconnect`` and messages need
nothing: a gone connection is skipped by the streamer, and records expire.

Example:
    >>> lambda_handler({"requestContext": {"routeKey": "$default"}}, None)
    {'statusCode': 200}
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from typing import Any

#: Lex V2 session ids: 2 to 100 of these characters.
SESSION_ID = re.compile(r"^[0-9A-Za-z._:-]{2,100}$")
#: How long a registration lasts (DynamoDB's TTL removes it after).
TTL_SECONDS = 2 * 3600


def register(event: Mapping[str, Any], dynamodb: Any, table: str,
             now: float | None = None) -> dict[str, Any]:
    """``$connect``: record the connection for the session id the client named."""
    context = event.get("requestContext") or {}
    query = event.get("queryStringParameters") or {}
    session_id = str(query.get("sessionId") or "")
    identity = str((context.get("identity") or {}).get("cognitoIdentityId") or "")
    connection = str(context.get("connectionId") or "")
    if not SESSION_ID.match(session_id) or not connection:
        return {"statusCode": 400, "body": "connect with ?sessionId=<the Lex session id>"}
    if not identity:
        return {"statusCode": 403, "body": "sign the connection with a Cognito identity"}
    from botocore.exceptions import ClientError

    expires = int((time.time() if now is None else now) + TTL_SECONDS)
    try:
        dynamodb.put_item(
            TableName=table,
            Item={"sessionId": {"S": session_id}, "connectionId": {"S": connection},
                  "identityId": {"S": identity}, "expires": {"N": str(expires)}},
            ConditionExpression="attribute_not_exists(sessionId) OR identityId = :me",
            ExpressionAttributeValues={":me": {"S": identity}})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return {"statusCode": 403, "body": "this session belongs to another identity"}
        raise
    return {"statusCode": 200}


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway WebSocket routes: ``$connect`` registers; everything else is accepted."""
    route = ((event or {}).get("requestContext") or {}).get("routeKey")
    if route != "$connect":
        return {"statusCode": 200}
    from knowledge.aws import aws_client

    return register(event, aws_client("dynamodb", read_timeout=2),
                    os.environ["STREAMING_TABLE"])
