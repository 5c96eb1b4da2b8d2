"""The bot-build Lambda: a CloudFormation custom resource at deploy time, and a direct
``{"action": "build"}`` invocation from the content designer (``POST /bot``).

Create and Update build the bot from the items in the store and publish the ``live`` alias;
Delete deletes the bot. The custom resource returns ``BotId``, ``BotAliasId`` and
``BotVersion`` for the template's outputs. Whatever happens, CloudFormation gets an answer, so
a failed build never leaves the stack hanging for an hour.

Example event (CloudFormation)::

    {"RequestType": "Create", "ResponseURL": "https://...", "StackId": "...",
     "RequestId": "...", "LogicalResourceId": "LexBot", "ResourceProperties": {...}}
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from typing import Any

from bot.builder import BotBuildError, LexBotBuilder
from bot.definition import BotDefinitionError
from bot.service import build_bot

logger = logging.getLogger(__name__)


def _items():
    from knowledge.backends import open_store

    return open_store().iter_items()


def send_response(event: dict[str, Any], status: str, *, reason: str = "",
                  physical_id: str = "", data: dict[str, Any] | None = None,
                  opener: Callable[..., Any] = urllib.request.urlopen) -> None:
    """PUT the custom-resource result to CloudFormation's pre-signed ``ResponseURL``."""
    body = json.dumps({
        "Status": status,
        "Reason": (reason or "See the CloudWatch logs of the bot-build function")[:3000],
        "PhysicalResourceId": physical_id or event.get("PhysicalResourceId") or "qnabot-lex-bot",
        "StackId": event["StackId"], "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"], "Data": data or {},
    }).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with opener(request, timeout=30) as reply:
        reply.read()


def handle_custom_resource(event: dict[str, Any], builder: LexBotBuilder,
                           items: Callable[[], Any] = _items,
                           respond: Callable[..., None] = send_response) -> None:
    """Create/Update: build and publish the bot; Delete: delete it. Always responds."""
    kind = event["RequestType"]
    properties = event.get("ResourceProperties") or {}
    try:
        if kind == "Delete":
            builder.delete()
            respond(event, "SUCCESS")
            return
        result = build_bot(items(), locales=properties.get("LocaleIds") or None,
                           builder=builder)["bot"]
        respond(event, "SUCCESS", physical_id=result["botId"], data={
            "BotId": result["botId"], "BotAliasId": result["botAliasId"],
            "BotVersion": result["botVersion"]})
    except Exception as exc:  # CloudFormation must get an answer whatever went wrong
        logger.exception("bot build failed")
        respond(event, "FAILED", reason=f"{type(exc).__name__}: {exc}")


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any] | None:
    """Entry point of the bot-build function."""
    builder = LexBotBuilder.from_environment()
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        # Leave a minute to answer CloudFormation whatever the waits do.
        builder.timeout = max(60.0, context.get_remaining_time_in_millis() / 1000 - 60) / 3
    if "RequestType" in event:
        handle_custom_resource(event, builder)
        return None
    try:
        return {"ok": True, **build_bot(_items(), locales=event.get("locales"), builder=builder)}
    except (BotBuildError, BotDefinitionError) as exc:
        return {"ok": False, "error": str(exc)}
