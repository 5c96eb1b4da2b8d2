"""Lambda hooks: an item's ``l`` names a function that may change the answer.

Rules (issue 7's security rules, stricter than QnABot):

* only an item's ``l`` names a hook; nothing a user or a session attribute sends can;
* the function name (the name part of an ARN) must start with ``LAMBDA_HOOK_FUNCTION_PREFIX``;
* QnABot's built-in hooks (``QNA:...``) are never invoked as Lambdas: the known ones are played
  in process (:mod:`fulfillment.builtin_hooks`); for the others the item's own answer is
  given and a log line says so.

The contract is QnABot's: the function receives ``{"req": ..., "res": ...}`` and returns it,
possibly with ``res.message``, ``res.session``, ``res.card`` or ``res.result.alt`` changed.
A failing hook leaves the item's own answer.

Example:
    >>> hook_decision("qna-weather", "qna-")
    HookDecision(invoke=True, reason='')
    >>> hook_decision("QNA:ExampleJSLambdahook", "qna-").reason
    'QnABot built-in hook QNA:ExampleJSLambdahook is not available; answered without it'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from fulfillment.model import Answer, Request
from fulfillment.render import fit_card
from knowledge.aws import aws_client
from knowledge.items import Button, Card, Item
from knowledge.settings import Settings

#: Longest a hook may take (seconds), so a slow hook cannot lose the Lex turn.
HOOK_TIMEOUT_SECONDS = 8


class HookError(RuntimeError):
    """The hook could not be invoked or returned something unusable."""


class HookInvoker(Protocol):
    """Port: call a function with a JSON payload and return its JSON reply."""

    def invoke(self, function_name: str, payload: Mapping[str, Any]) -> Any:
        """The function's reply; raises :class:`HookError` when it fails."""
        ...


@dataclass(frozen=True)
class HookDecision:
    invoke: bool
    reason: str = ""


def function_name(name_or_arn: str) -> str:
    """The function name of a name, partial ARN or full ARN (qualifier removed).

    >>> function_name("arn:aws:lambda:us-east-1:123456789012:function:qna-time:prod")
    'qna-time'
    """
    parts = name_or_arn.split(":")
    if len(parts) >= 7 and parts[0] == "arn":
        return parts[6]
    if len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name
        return parts[2]
    return parts[0]


def hook_decision(name: str, prefix: str) -> HookDecision:
    """Whether the hook ``name`` may be invoked under the allowed ``prefix``."""
    name = name.strip()
    if name.upper().startswith("QNA:"):
        return HookDecision(False, f"QnABot built-in hook {name} is not available; "
                                   "answered without it")
    if not prefix.strip():
        return HookDecision(False, "LAMBDA_HOOK_FUNCTION_PREFIX is empty; no hook may run")
    if not function_name(name).startswith(prefix.strip()):
        return HookDecision(False, f'hook {name} does not start with the allowed prefix '
                                   f'"{prefix}"; answered without it')
    return HookDecision(True)


def hook_payload(request: Request, item: Item, answer: Answer, settings: Settings) -> dict:
    """QnABot's ``{req, res}`` event for a hook."""
    return {
        "req": {
            "_type": "LEX",
            "_lexVersion": "V2",
            "_clientType": "LEX.Voice" if request.channel == "voice" else "LEX.Text",
            "_userId": request.user_id,
            "_settings": settings.qnabot_values(),
            "question": request.transcript,
            "session": dict(request.session_attributes),
            "intentname": request.intent_name,
        },
        "res": {
            "type": "PlainText",
            "message": answer.text,
            "plainMessage": answer.text,
            "session": dict(answer.session_attributes),
            "card": {"send": answer.card is not None},
            "result": item.to_json(),
            "got_hits": 1,
        },
    }


def _card_from_hook(card: Any) -> Card | None:
    if not isinstance(card, Mapping) or not card.get("send"):
        return None
    buttons = tuple(Button(str(b.get("text", "")), str(b.get("value", "")))
                    for b in card.get("buttons") or () if isinstance(b, Mapping))
    return Card(title=str(card.get("title") or ""), subtitle=str(card.get("subTitle") or ""),
                image_url=str(card.get("imageUrl") or ""), buttons=buttons)


def apply_hook_reply(answer: Answer, reply: Any) -> Answer:
    """The answer as the hook left it; raises :class:`HookError` for a malformed reply."""
    if not isinstance(reply, Mapping) or not isinstance(reply.get("res"), Mapping):
        raise HookError('the hook did not return {"req": ..., "res": ...}')
    res = reply["res"]
    changed = replace(answer)
    message = res.get("message")
    if isinstance(message, str) and message.strip() and message != answer.text:
        changed = replace(changed, text=message, markdown="", ssml="")
    alt = (res.get("result") or {}).get("alt") if isinstance(res.get("result"), Mapping) else None
    if isinstance(alt, Mapping):
        if isinstance(alt.get("markdown"), str) and alt["markdown"].strip():
            changed = replace(changed, markdown=alt["markdown"])
        if isinstance(alt.get("ssml"), str) and alt["ssml"].strip():
            changed = replace(changed, ssml=alt["ssml"])
    if isinstance(res.get("session"), Mapping):
        attributes = dict(changed.session_attributes)
        for key, value in res["session"].items():
            if isinstance(value, str):
                attributes[str(key)] = value
            elif value is not None:
                attributes[str(key)] = json.dumps(value)
        changed = replace(changed, session_attributes=attributes)
    card = _card_from_hook(res.get("card"))
    if card is not None:
        changed = replace(changed, card=fit_card(card))
    return changed


class LambdaHookInvoker:
    """Invoke hooks as AWS Lambda functions (boto3, created on first use)."""

    def __init__(self, client: Any = None):
        self._client = client

    def invoke(self, function_name: str, payload: Mapping[str, Any]) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        if self._client is None:
            self._client = aws_client("lambda", read_timeout=HOOK_TIMEOUT_SECONDS,
                                      max_attempts=1)
        try:
            response = self._client.invoke(FunctionName=function_name,
                                           InvocationType="RequestResponse",
                                           Payload=json.dumps(payload, default=str).encode())
            body = json.loads(response["Payload"].read() or b"null")
        except (ClientError, BotoCoreError, ValueError) as exc:
            raise HookError(f"lambda hook {function_name} failed: {exc}") from exc
        if response.get("FunctionError"):
            detail = body.get("errorMessage") if isinstance(body, Mapping) else ""
            raise HookError(f"lambda hook {function_name} raised: {detail or 'an error'}")
        return body
