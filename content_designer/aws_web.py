"""The AWS side of the pages: runtime configuration, sign-in rules, the chat page and the
Amazon Connect contact flow, for the admin API Lambda (:mod:`content_designer.lambda_function`).

The stack writes what the pages need (user pool, app client, hosted-UI domain, identity pool,
bot and alias ids, ``PublicOrPrivate``, the Connect instance) into one SSM parameter
(``WEB_CONFIG_PARAMETER``); the Lambda reads it once per container. From it:

* ``GET config.js`` sets ``window.QNABOT_CONFIG`` (contract C1): Cognito sign-in, the Lex
  transport, streaming over the stack's WebSocket;
* the pages' Content-Security-Policy allows calls to Cognito and the Lex runtime of the
  stack's region, and nothing else outside the API;
* ``GET /chat`` serves the chat page (public: it signs in itself when the client is PRIVATE);
* ``GET /connect/contact-flow`` (admins) downloads the contact flow for Amazon Connect.

Only members of the ``Admins`` group of the user pool may use the admin routes
(:func:`admins_only`); other users of the pool may only chat.

Example:
    >>> config = page_config({"region": "us-east-1", "userPoolId": "us-east-1_abc",
    ...     "clientId": "c", "domain": "d.auth.us-east-1.amazoncognito.com",
    ...     "identityPoolId": "us-east-1:x", "botId": "B", "botAliasId": "A",
    ...     "localeIds": "en_US,fr_CA", "publicOrPrivate": "PUBLIC"})
    >>> config["auth"], config["transport"], config["lex"]["localeId"]
    ('cognito', 'lex', 'en_US')
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from bot.connect_flow import ContactFlowError, bot_alias_arn, contact_flow
from content_designer.pages import SECURITY_HEADERS, static_file

#: The user-pool group whose members may use the content designer.
ADMINS_GROUP = "Admins"
CONFIG_VARIABLE = "WEB_CONFIG_PARAMETER"
REQUIRED = ("region", "userPoolId", "clientId", "domain", "identityPoolId", "botId",
            "botAliasId")

WebConfig = Mapping[str, str]


class WebConfigError(RuntimeError):
    """The stack's web configuration is missing or incomplete (the message says what to do)."""


def read_web_config(environ: Mapping[str, str] | None = None, ssm: Any = None) -> dict[str, str]:
    """The stack's web configuration from the SSM parameter named by ``WEB_CONFIG_PARAMETER``."""
    env = os.environ if environ is None else environ
    name = env.get(CONFIG_VARIABLE, "").strip()
    if not name:
        raise WebConfigError(f"set {CONFIG_VARIABLE} to the stack's web-config SSM parameter")
    if ssm is None:
        import boto3

        ssm = boto3.client("ssm")
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        config = json.loads(value)
    except Exception as exc:  # boto errors, or a parameter edited by hand into bad JSON
        raise WebConfigError(f'cannot read the web configuration "{name}": {exc}. Check that '
                             "the stack deployed completely and the function may "
                             "ssm:GetParameter it") from exc
    missing = [key for key in REQUIRED if not str(config.get(key, "")).strip()]
    if missing:
        raise WebConfigError(f'the web configuration "{name}" lacks {", ".join(missing)}; '
                             "update the stack to rewrite it")
    return {key: str(value) for key, value in config.items()}


def page_config(web: WebConfig) -> dict[str, Any]:
    """``window.QNABOT_CONFIG`` for pages served by the stack (contract C1)."""
    locale = (web.get("localeIds") or "en_US").split(",")[0].strip() or "en_US"
    return {
        "auth": "cognito",
        "cognito": {"region": web["region"], "userPoolId": web["userPoolId"],
                    "clientId": web["clientId"], "domain": web["domain"]},
        "transport": "lex",
        "lex": {"region": web["region"], "botId": web["botId"], "botAliasId": web["botAliasId"],
                "localeId": locale, "identityPoolId": web["identityPoolId"],
                "publicOrPrivate": web.get("publicOrPrivate") or "PUBLIC",
                "streamingUrl": web.get("streamingUrl") or ""},
        # partial answers over the stack's WebSocket (fulfillment.streaming_ws)
        "streaming": bool(web.get("streamingUrl")),
    }


def config_script(config: Mapping[str, Any]) -> str:
    """The ``config.js`` text that sets ``window.QNABOT_CONFIG``.

    >>> config_script({"auth": "token"})
    'window.QNABOT_CONFIG = {"auth": "token"};\\n'
    """
    text = json.dumps(dict(config)).replace("</", "<\\/")  # never closes a <script>
    return f"window.QNABOT_CONFIG = {text};\n"


def content_security_policy(web: WebConfig) -> str:
    """The pages' CSP, with the Cognito and Lex endpoints of the stack's region allowed."""
    region = web["region"]
    allowed = [f"https://cognito-identity.{region}.amazonaws.com",
               f"https://runtime-v2-lex.{region}.amazonaws.com", f"https://{web['domain']}"]
    if web.get("streamingUrl", "").startswith("wss://"):
        allowed.append(web["streamingUrl"].split("?")[0])
    # A browser obeys the first connect-src of a policy only: replace the pages' own.
    directives = [d.strip() for d in SECURITY_HEADERS["Content-Security-Policy"].split(";")
                  if d.strip() and not d.strip().startswith("connect-src")]
    return "; ".join([*directives, "connect-src 'self' " + " ".join(allowed)])


def with_page_headers(response: dict[str, Any], web: WebConfig | None) -> dict[str, Any]:
    """An API Gateway response whose CSP (if it has one) lets the page reach Cognito and Lex."""
    if web is None:
        return response
    for key in ("headers", "multiValueHeaders"):
        headers = response.get(key) or {}
        if "Content-Security-Policy" in headers:
            policy = content_security_policy(web)
            headers["Content-Security-Policy"] = policy if key == "headers" else [policy]
    return response


def config_response(web: WebConfig | None, error: str = "") -> dict[str, Any]:
    """The API Gateway response of ``GET config.js``."""
    if web is None:
        body = f"console.error({json.dumps('QnABot configuration unavailable: ' + error)});\n"
        return {"statusCode": 503, "body": body, "isBase64Encoded": False,
                "headers": {"Content-Type": "text/javascript; charset=utf-8",
                            "Cache-Control": "no-store"}}
    return {"statusCode": 200, "body": config_script(page_config(web)), "isBase64Encoded": False,
            "headers": {"Content-Type": "text/javascript; charset=utf-8",
                        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}}


def admins_only(event: Mapping[str, Any]) -> bool:
    """True when API Gateway's Cognito authorizer admitted a member of ``Admins``.

    >>> admins_only({"requestContext": {"authorizer": {"claims": {"cognito:groups": "Admins"}}}})
    True
    >>> admins_only({"requestContext": {"authorizer": {"claims": {"email": "a@b.c"}}}})
    False
    """
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    groups = claims.get("cognito:groups") or ""
    if isinstance(groups, list):
        names = {str(g) for g in groups}
    else:  # REST APIs pass claims as strings: "Admins" or "[Admins, Other]"
        names = set(filter(None, re.split(r"[\s,\[\]]+", str(groups))))
    return ADMINS_GROUP in names


def register_routes(app: APIGatewayRestResolver, web: Callable[[], WebConfig],
                    admin: list[dict[str, list[str]]]) -> None:
    """Add the chat page and the Connect contact-flow download to ``app``.

    ``web`` returns the stack's web configuration; ``admin`` is the OpenAPI security
    requirement of admin routes (the app's middleware refuses other callers).
    """

    @app.get("/chat", include_in_schema=False)
    def chat_page() -> Response[str]:
        found = static_file("chat.html")
        if found is None:
            return Response(404, content_types.TEXT_PLAIN, "the chat page is not installed")
        return Response(200, found[1], found[0], headers=dict(SECURITY_HEADERS))

    @app.get("/connect/contact-flow", summary="The Amazon Connect contact flow for this bot",
             tags=["bot"], security=admin)
    def connect_contact_flow() -> Response[str]:
        config = web()
        locale = (config.get("localeIds") or "en_US").split(",")[0].strip() or "en_US"
        alias = bot_alias_arn(config["region"], config.get("accountId", ""), config["botId"],
                              config["botAliasId"], config.get("partition") or "aws")
        try:
            flow = contact_flow(alias, locale=locale)
        except ContactFlowError as exc:
            return Response(409, content_types.APPLICATION_JSON, json.dumps({"error": str(exc)}))
        return Response(200, content_types.APPLICATION_JSON, json.dumps(flow, indent=2),
                        headers={"Content-Disposition":
                                 'attachment; filename="qnabot-contact-flow.json"'})
