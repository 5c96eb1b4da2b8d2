"""The pages on AWS: config.js from the stack's web configuration, admins only on the admin
routes, the chat page, the pages' CSP and the Amazon Connect contact-flow download.

SSM is botocore's Stubber (requests checked against the real service model); the app is the
one the Lambda builds, over the local knowledge base.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from content_designer import aws_web, lambda_function
from content_designer.chat import LocalLambdaContext
from tests.content_designer.conftest import use_lambda_app

WEB = {"region": "eu-west-1", "accountId": "123456789012", "partition": "aws",
       "userPoolId": "eu-west-1_AbCdEf123", "clientId": "client123",
       "domain": "qnabot-1a2b.auth.eu-west-1.amazoncognito.com",
       "identityPoolId": "eu-west-1:11111111-2222-3333-4444-555555555555",
       "botId": "BOT1234567", "botAliasId": "ALIAS12345", "localeIds": "fr_CA,en_US",
       "publicOrPrivate": "PRIVATE", "connectInstanceArn": ""}
ADMIN_CLAIMS = {"cognito:username": "admin", "cognito:groups": "Admins"}
CHAT_USER_CLAIMS = {"cognito:username": "caller", "email": "caller@example.com"}


def event(path: str, claims: dict[str, str] | None = None) -> dict:
    context = {"authorizer": {"claims": claims}} if claims else {}
    return {"httpMethod": "GET", "path": path, "headers": {}, "requestContext": context,
            "queryStringParameters": None, "body": None, "isBase64Encoded": False}


def header(reply: dict, name: str) -> str:
    """A response header, whether API Gateway gets it single- or multi-valued."""
    if name in (reply.get("headers") or {}):
        return reply["headers"][name]
    return (reply.get("multiValueHeaders") or {}).get(name, [""])[0]


@pytest.fixture
def lambda_app(services, monkeypatch):
    """The Lambda's app (the designer API plus the AWS routes) with the web config above."""
    use_lambda_app(services, WEB, monkeypatch)
    return lambda path, claims=None: lambda_function.lambda_handler(event(path, claims),
                                                                     LocalLambdaContext())


def test_the_web_config_is_read_from_the_stacks_ssm_parameter():
    ssm = boto3.client("ssm", region_name="eu-west-1", aws_access_key_id="x",
                       aws_secret_access_key="x")
    with Stubber(ssm) as stub:
        stub.add_response("get_parameter", {"Parameter": {"Value": json.dumps(WEB)}},
                          {"Name": "/qnabot/qnabot/web-config"})
        config = aws_web.read_web_config({"WEB_CONFIG_PARAMETER": "/qnabot/qnabot/web-config"},
                                         ssm)
    assert config["botAliasId"] == "ALIAS12345"


def test_a_missing_or_incomplete_web_config_says_what_to_do():
    with pytest.raises(aws_web.WebConfigError, match="set WEB_CONFIG_PARAMETER"):
        aws_web.read_web_config({})
    ssm = boto3.client("ssm", region_name="eu-west-1", aws_access_key_id="x",
                       aws_secret_access_key="x")
    with Stubber(ssm) as stub:
        stub.add_response("get_parameter", {"Parameter": {"Value": '{"region": "eu-west-1"}'}})
        with pytest.raises(aws_web.WebConfigError, match="lacks userPoolId.*update the stack"):
            aws_web.read_web_config({"WEB_CONFIG_PARAMETER": "p"}, ssm)
        stub.add_client_error("get_parameter", "AccessDeniedException", "no")
        with pytest.raises(aws_web.WebConfigError, match="ssm:GetParameter"):
            aws_web.read_web_config({"WEB_CONFIG_PARAMETER": "p"}, ssm)


def test_config_js_tells_the_pages_to_sign_in_with_cognito_and_chat_through_lex(lambda_app):
    reply = lambda_app("/config.js")
    assert reply["statusCode"] == 200
    assert header(reply, "Content-Type").startswith("text/javascript")
    prefix = "window.QNABOT_CONFIG = "
    assert reply["body"].startswith(prefix)
    config = json.loads(reply["body"][len(prefix):].rstrip().rstrip(";"))
    assert config == {
        "auth": "cognito",
        "cognito": {"region": "eu-west-1", "userPoolId": "eu-west-1_AbCdEf123",
                    "clientId": "client123",
                    "domain": "qnabot-1a2b.auth.eu-west-1.amazoncognito.com"},
        "transport": "lex",
        "lex": {"region": "eu-west-1", "botId": "BOT1234567", "botAliasId": "ALIAS12345",
                "localeId": "fr_CA", "identityPoolId": WEB["identityPoolId"],
                "publicOrPrivate": "PRIVATE", "streamingUrl": ""},
        "streaming": False}


def test_a_stack_with_the_streaming_websocket_tells_the_chat_to_use_it():
    web = {**WEB, "streamingUrl": "wss://ws123.execute-api.eu-west-1.amazonaws.com/prod"}
    config = aws_web.page_config(web)
    assert config["streaming"] is True
    assert config["lex"]["streamingUrl"] == web["streamingUrl"]
    assert "wss://ws123.execute-api.eu-west-1.amazonaws.com/prod" in \
        aws_web.content_security_policy(web).split("connect-src", 1)[1]


def test_config_js_without_a_web_config_is_a_clear_script_error(monkeypatch):
    def broken():
        raise aws_web.WebConfigError("set WEB_CONFIG_PARAMETER to the stack's parameter")
    monkeypatch.setattr(lambda_function, "web_config", broken)
    reply = lambda_function.lambda_handler(event("/config.js"), LocalLambdaContext())
    assert reply["statusCode"] == 503 and "WEB_CONFIG_PARAMETER" in reply["body"]


def test_only_admins_may_use_the_designer_api(lambda_app):
    assert lambda_app("/info")["statusCode"] == 401
    assert lambda_app("/info", CHAT_USER_CLAIMS)["statusCode"] == 401
    assert lambda_app("/info", ADMIN_CLAIMS)["statusCode"] == 200
    assert aws_web.admins_only({"requestContext": {"authorizer": {"claims": {
        "cognito:groups": "[Readers, Admins]"}}}})


def test_the_chat_page_is_served_and_pages_may_reach_cognito_and_lex_only(lambda_app):
    page = lambda_app("/chat")
    assert page["statusCode"] == 200 and "<html" in page["body"].lower()
    policy = header(page, "Content-Security-Policy")
    assert "connect-src 'self' https://cognito-identity.eu-west-1.amazonaws.com " \
           "https://runtime-v2-lex.eu-west-1.amazonaws.com " \
           "https://qnabot-1a2b.auth.eu-west-1.amazoncognito.com" in policy
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "runtime-v2-lex" in header(lambda_app("/designer"), "Content-Security-Policy")


def test_admins_download_the_connect_contact_flow_for_the_live_alias(lambda_app):
    assert lambda_app("/connect/contact-flow", CHAT_USER_CLAIMS)["statusCode"] == 401
    reply = lambda_app("/connect/contact-flow", ADMIN_CLAIMS)
    assert reply["statusCode"] == 200
    assert "qnabot-contact-flow.json" in header(reply, "Content-Disposition")
    flow = json.loads(reply["body"])
    bots = [a["Parameters"]["LexV2Bot"]["AliasArn"] for a in flow["Actions"]
            if a["Type"] == "ConnectParticipantWithLexBot"]
    assert bots and set(bots) == {
        "arn:aws:lex:eu-west-1:123456789012:bot-alias/BOT1234567/ALIAS12345"}
    voices = [a["Parameters"]["TextToSpeechVoice"] for a in flow["Actions"]
              if a["Type"] == "UpdateContactTextToSpeechVoice"]
    assert voices == ["Gabrielle"]  # the bot's first locale, fr_CA


def test_every_js_file_a_page_needs_in_aws_is_served(lambda_app):
    for name in ("auth-cognito.js", "lex-transport.js", "vendor-aws4fetch.js",
                 "vendor-marked.js", "vendor-purify.js"):
        reply = lambda_app(f"/static/{name}")
        assert reply["statusCode"] == 200, name
        assert header(reply, "Content-Type").startswith("text/javascript"), name
