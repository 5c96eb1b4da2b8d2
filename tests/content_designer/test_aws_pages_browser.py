"""The AWS page scripts in headless Chromium, served under the ``/prod/`` stage prefix.

The Lambda's own handler answers ``http://127.0.0.1:<port>/prod/...`` as API Gateway would
(stage prefix stripped). Cognito's hosted UI, Cognito identity and the Lex V2 runtime are one
HTTPS double on 127.0.0.1: Chromium resolves their real host names there
(``--host-resolver-rules``) and accepts its self-signed certificate, so the scripts, the URLs
they build, CORS and the page's Content-Security-Policy are exactly those of a deployment.

A small page of the test loads, by stage-relative URLs, what the chat page loads in AWS:
``config.js``, ``static/vendor-*.js``, ``static/auth-cognito.js`` and
``static/lex-transport.js``. PRIVATE: sending a turn signs in through the hosted UI
(authorization code with PKCE), exchanges the ID token for identity-pool credentials and signs
``RecognizeText`` with them; PUBLIC: a guest identity, no sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from content_designer import aws_web, lambda_function
from content_designer.chat import LocalLambdaContext
from content_designer.local_server import api_gateway_event
from tests.content_designer import cdp
from tests.content_designer.cdp import Browser, find_chromium
from tests.content_designer.conftest import use_lambda_app

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed")]

REGION = "eu-west-1"
DOMAIN = f"qnabot-test.auth.{REGION}.amazoncognito.com"
STREAM_HOST = f"ws123.execute-api.{REGION}.amazonaws.com"
HOSTS = (f"cognito-identity.{REGION}.amazonaws.com", f"runtime-v2-lex.{REGION}.amazonaws.com",
         DOMAIN, STREAM_HOST)
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PARTIALS = ("Hi", "Hi there, so")
WEB = {"region": REGION, "accountId": "123456789012", "userPoolId": f"{REGION}_Pool12345",
       "clientId": "client123", "domain": DOMAIN, "identityPoolId": f"{REGION}:pool-id",
       "botId": "BOT1234567", "botAliasId": "ALIAS12345", "localeIds": "en_US",
       "publicOrPrivate": "PRIVATE"}
MARKDOWN = ("Hi **there** <img src=x onerror=\"window.hacked=1\"> "
            "[bad](javascript:window.hacked=2) [docs](https://example.com/docs)")


def fake_jwt(claims: dict[str, Any]) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    return f"{part({'alg': 'none'})}.{part(claims)}.signature"


class AwsDouble(ThreadingHTTPServer):
    """Cognito hosted UI, Cognito identity and Lex runtime, over TLS on 127.0.0.1."""

    def __init__(self, certificate: Path, key: Path):
        super().__init__(("127.0.0.1", 0), _AwsHandler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.codes: dict[str, str] = {}  # code -> PKCE challenge
        self.logins: list[dict | None] = []
        self.lex_requests: list[dict[str, Any]] = []
        self.lex_seconds = 0.0  # how long Lex takes to answer
        self.lex_in_flight = 0
        self.lex_most_in_flight = 0  # Lex refuses a second turn of a session in flight
        self.lex_lock = threading.Lock()
        self.streams: dict[str, Any] = {}  # session id -> the socket's file, as it connected
        self.stream_queries: list[dict[str, str]] = []
        self.acks = threading.Semaphore(0)  # the page saw a partial answer
        self.closing = threading.Event()

    def shutdown(self) -> None:
        self.closing.set()
        super().shutdown()


def websocket_frame(text: str) -> bytes:
    """One unmasked text frame, as a server sends it."""
    data = text.encode()
    size = bytes([len(data)]) if len(data) < 126 else bytes([126]) + len(data).to_bytes(2, "big")
    return bytes([0x81]) + size + data


class _AwsHandler(BaseHTTPRequestHandler):
    server: AwsDouble

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Access-Control-Allow-Methods", "GET, POST")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_OPTIONS(self) -> None:
        self._send(204)

    def _websocket(self) -> None:
        """The streaming API's $connect: a SigV4-signed URL naming the session, then the
        socket stays open for the partial answers of that session's turns."""
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        self.server.stream_queries.append(query)
        accept = base64.b64encode(hashlib.sha1(
            (self.headers["Sec-WebSocket-Key"] + WEBSOCKET_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.server.streams[query.get("sessionId", "")] = self.wfile
        self.server.closing.wait(60)  # keep the connection until the test ends

    def do_GET(self) -> None:  # the hosted UI: signs the user in at once, back with a code
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self._websocket()
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        assert url.path == "/oauth2/authorize" and query["code_challenge_method"] == "S256"
        code = f"code-{len(self.server.codes)}"
        self.server.codes[code] = query["code_challenge"]
        back = query["redirect_uri"] + "?" + urllib.parse.urlencode(
            {"code": code, "state": query["state"]})
        self._send(302, headers={"Location": back})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        host = self.headers["Host"].split(":")[0]
        if host == DOMAIN:
            form = dict(urllib.parse.parse_qsl(body))
            verifier = hashlib.sha256(form["code_verifier"].encode()).digest()
            challenge = base64.urlsafe_b64encode(verifier).decode().rstrip("=")
            if self.server.codes.get(form["code"]) != challenge:
                return self._send(400, {"error": "invalid_grant"})
            token = fake_jwt({"exp": int(time.time()) + 3600, "cognito:username": "user",
                              "cognito:groups": ["Admins"]})
            return self._send(200, {"id_token": token, "access_token": "a",
                                    "refresh_token": "r", "expires_in": 3600})
        if self.path == "/ack":  # the page's onPartial saw a partial answer
            self.server.acks.release()
            return self._send(200, {})
        if host.startswith("cognito-identity."):
            request = json.loads(body)
            target = self.headers["X-Amz-Target"].rsplit(".", 1)[1]
            if target == "GetId":
                assert request["IdentityPoolId"] == WEB["identityPoolId"]
                self.server.logins.append(request.get("Logins"))
                return self._send(200, {"IdentityId": f"{REGION}:identity-1"})
            return self._send(200, {"IdentityId": request["IdentityId"], "Credentials": {
                "AccessKeyId": "ASIATESTKEY", "SecretKey": "secret", "SessionToken": "session",
                "Expiration": time.time() + 3600}})
        self.server.lex_requests.append({"path": self.path, "body": body,
                                         "headers": {k.lower(): v for k, v in
                                                     self.headers.items()}})
        with self.server.lex_lock:
            self.server.lex_in_flight += 1
            self.server.lex_most_in_flight = max(self.server.lex_most_in_flight,
                                                 self.server.lex_in_flight)
        try:
            time.sleep(self.server.lex_seconds)
            self._recognize_text(body)
        finally:
            with self.server.lex_lock:
                self.server.lex_in_flight -= 1

    def _recognize_text(self, body: bytes) -> None:
        session = self.path.split("/session/")[1].split("/")[0]
        stream = self.server.streams.get(session)
        if stream is not None:  # the fulfillment Lambda posts the answer as it is written
            for text in PARTIALS:
                stream.write(websocket_frame(json.dumps(
                    {"type": "partial", "sessionId": session, "text": text})))
                stream.flush()
                self.server.acks.acquire(timeout=10)  # the page got it before the reply
        attributes = {"qnabot_qid": "Demo.001", "qnabot_gotanswer": "true",
                      "appContext": json.dumps({"altMessages": {"markdown": MARKDOWN}})}
        self._send(200, {"messages": [
            {"contentType": "PlainText", "content": "Hi there"},
            {"contentType": "ImageResponseCard", "imageResponseCard": {
                "title": "More?", "imageUrl": "http://insecure.example/x.png",
                "buttons": [{"text": "Yes", "value": "tell me more"}, {"text": "", "value": "x"}]}}],
            "sessionState": {"sessionAttributes": attributes,
                             "dialogAction": {"type": "Close"}}, "sessionId": "s1"})


HARNESS = """<!doctype html><html><head><meta charset="utf-8"><title>harness</title>
<script src="config.js"></script>
<script src="static/vendor-aws4fetch.js"></script>
<script src="static/vendor-marked.js"></script>
<script src="static/vendor-purify.js"></script>
<script src="static/auth-cognito.js"></script>
<script src="static/lex-transport.js"></script>
</head><body>AWS page scripts</body></html>"""


def authorizer_claims(authorization: str) -> dict[str, str]:
    """The claims of a (test) ID token, as strings, the way the REST API authorizer passes
    them; empty when there is no token."""
    token = authorization.removeprefix("Bearer ").strip()
    if token.count(".") != 2:
        return {}
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return {k: ("[" + " ".join(v) + "]" if isinstance(v, list) else str(v))
            for k, v in claims.items()}


class StageServer(ThreadingHTTPServer):
    """API Gateway's stage: /prod/<path> -> the Lambda handler with the event for /<path>."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _StageHandler)
        self.paths: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/prod/"


class _StageHandler(BaseHTTPRequestHandler):
    # One event at a time, as one Lambda container answers them (the resolver keeps the
    # current request in the app).
    lock = threading.Lock()

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def _answer(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        self.server.paths.append(path)
        if not path.startswith("/prod/"):
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else None
        if path == "/prod/harness":
            status, body = 200, HARNESS.encode()
            headers = {"Content-Type": "text/html; charset=utf-8",
                       "Content-Security-Policy": aws_web.content_security_policy(WEB)}
        else:
            event = api_gateway_event(self.command, self.path[len("/prod"):],
                                      dict(self.headers), data)
            claims = authorizer_claims(self.headers.get("Authorization", ""))
            if claims:  # what API Gateway's Cognito authorizer adds
                event["requestContext"]["authorizer"] = {"claims": claims}
            with self.lock:
                reply = lambda_function.lambda_handler(event, LocalLambdaContext())
            body = reply["body"]
            body = base64.b64decode(body) if reply.get("isBase64Encoded") else body.encode()
            status = reply["statusCode"]
            headers = dict(reply.get("headers") or {})
            headers.update({k: v[0] for k, v in (reply.get("multiValueHeaders") or {}).items()})
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(server: ThreadingHTTPServer) -> ThreadingHTTPServer:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def stack(services, monkeypatch, tmp_path):
    use_lambda_app(services, WEB, monkeypatch)
    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=amazonaws.test", "-keyout", str(key), "-out", str(certificate)],
                   check=True, capture_output=True)
    aws, stage = serve(AwsDouble(certificate, key)), serve(StageServer())
    rules = ", ".join(f"MAP {host} 127.0.0.1:{aws.server_address[1]}" for host in HOSTS)
    monkeypatch.setattr(cdp, "CHROMIUM_FLAGS", (*cdp.CHROMIUM_FLAGS, "--ignore-certificate-errors",
                                                f"--host-resolver-rules={rules}"))
    with Browser.launch(tmp_path / "profile") as browser:
        yield browser, stage, aws
    aws.shutdown()
    stage.shutdown()


def signature_is_valid(request: dict[str, Any], *, host: str) -> bool:
    """botocore recomputes the request's SigV4 signature with the identity's credentials."""
    authorization = request["headers"]["authorization"]
    fields = dict(part.strip().split("=", 1) for part in
                  authorization.removeprefix("AWS4-HMAC-SHA256 ").split(","))
    assert fields["Credential"].startswith("ASIATESTKEY/")
    assert fields["Credential"].endswith(f"/{REGION}/lex/aws4_request")
    assert request["headers"]["x-amz-security-token"] == "session"
    signed = fields["SignedHeaders"].split(";")
    headers = {name: request["headers"][name] for name in signed if name != "host"}
    aws_request = AWSRequest("POST", f"https://{host}{request['path']}",
                             data=request["body"].encode(), headers=headers)
    aws_request.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(Credentials("ASIATESTKEY", "secret", "session"), "lex", REGION)
    canonical = signer.canonical_request(aws_request)
    expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    return expected == fields["Signature"]


SEND = ("window.turn = null; QNABOT_TRANSPORT.send('What is it?', {sessionId: 's1', "
        "channel: 'text'}).then(r => { window.turn = r; }, e => { window.turn = "
        "{error: String(e)}; }); true")


def test_a_private_chat_signs_in_through_the_hosted_ui_then_asks_lex(stack):
    browser, stage, aws = stack
    WEB["publicOrPrivate"] = "PRIVATE"
    browser.open(stage.url + "harness")
    assert browser.evaluate("QNABOT_CONFIG.lex.botAliasId") == "ALIAS12345"
    browser.evaluate(SEND)  # no token yet: off to the hosted UI, back with ?code=
    browser.wait_for("location.search.startsWith('?code=') && document.readyState === "
                     "'complete' && !!window.QNABOT_TRANSPORT",
                     what="the page to come back from the hosted UI with a code")
    browser.evaluate(SEND)
    turn = browser.wait_for("window.turn", what="the Lex reply")
    assert "error" not in turn, turn
    display = turn["display"]
    assert "<strong>there</strong>" in display["html"]
    assert "onerror" not in display["html"] and "javascript:" not in display["html"]
    assert 'href="https://example.com/docs"' in display["html"]
    assert 'rel="noopener noreferrer"' in display["html"]
    assert (display["qid"], display["got_answer"], display["text"]) == ("Demo.001", True,
                                                                         "Hi there")
    assert display["card"] == {"title": "More?", "subtitle": "", "image_url": "",
                               "buttons": [{"text": "Yes", "value": "tell me more"}]}
    assert browser.evaluate("location.href") == stage.url + "harness"  # code removed
    assert browser.evaluate("window.hacked === undefined")
    # The identity pool got the user's ID token; Lex got a SigV4 request with its credentials.
    provider = f"cognito-idp.{REGION}.amazonaws.com/{WEB['userPoolId']}"
    assert aws.logins and list(aws.logins[-1]) == [provider]
    [request] = aws.lex_requests
    assert request["path"] == "/bot/BOT1234567/botAlias/ALIAS12345/botLocale/en_US/session/s1/text"
    assert json.loads(request["body"]) == {"text": "What is it?"}
    assert signature_is_valid(request, host=HOSTS[1])
    assert browser.console_errors == []


def test_a_public_chat_asks_lex_as_a_guest_without_signing_in(stack):
    browser, stage, aws = stack
    WEB["publicOrPrivate"] = "PUBLIC"
    try:
        browser.open(stage.url + "harness")
        browser.evaluate(SEND)
        turn = browser.wait_for("window.turn", what="the Lex reply")
    finally:
        WEB["publicOrPrivate"] = "PRIVATE"
    assert turn["display"]["qid"] == "Demo.001"
    assert aws.logins == [None] and aws.codes == {}


def pages_load_the_runtime_config() -> bool:
    static = Path(aws_web.__file__).parent / "static"
    return all("config.js" in (static / page).read_text() for page in ("chat.html",
                                                                       "designer.html"))


@pytest.mark.skipif(not pages_load_the_runtime_config(),
                    reason="chat.html and designer.html do not load config.js yet (contract C1)")
def test_the_real_pages_under_prod_use_stage_relative_urls_cognito_and_lex(stack):
    browser, stage, aws = stack
    WEB["publicOrPrivate"] = "PUBLIC"
    aws.lex_seconds = 0.5  # the question is typed while the welcome turn is still out
    try:
        browser.open(stage.url + "chat")
        browser.wait_for("window.QNABOT_TRANSPORT && !!window.QNABOT_TRANSPORT.display",
                         what="the chat page to load the Lex transport")
        browser.evaluate("(() => { const input = document.querySelector('form input, form "
                         "textarea'); input.value = 'What is it?'; input.form.requestSubmit();"
                         " return true; })()")
        # The welcome turn's answer comes first: wait for the typed question's own answer.
        browser.wait_for("[...document.querySelectorAll('li.turn.bot:not(.welcome)')]"
                         ".some(li => li.innerText.includes('Hi there'))",
                         what="the answer from Lex to the typed question in the transcript")
        transcript = browser.evaluate("[...document.querySelectorAll('li.turn')].map(li => "
                                      "li.className.replace('turn ', ''))")
    finally:
        WEB["publicOrPrivate"] = "PRIVATE"
        aws.lex_seconds = 0.0
    assert aws.lex_requests and browser.evaluate("window.hacked === undefined")
    # The page's own welcome turn tells the fulfillment Lambda so (Lex V2 requestAttributes,
    # for the analytics); the typed question does not. Lex takes one turn of a session at a
    # time, so the question waited for the welcome's answer, and the transcript keeps that order.
    sent = [json.loads(r["body"]) for r in aws.lex_requests]
    assert sent == [{"text": "Hello", "requestAttributes": {"qnabot_welcome": "true"}},
                    {"text": "What is it?"}]
    assert aws.lex_most_in_flight == 1
    assert transcript == ["bot welcome", "user", "bot"]
    browser.open(stage.url + "designer")
    browser.wait_for("location.pathname === '/prod/designer' && !location.search && "
                     "Object.keys(sessionStorage).some(k => k.startsWith('qnabot.cognito.') "
                     "&& !k.endsWith('.pkce'))", timeout=60,
                     what="the designer to sign in through the hosted UI")
    browser.wait_for(f"performance.getEntriesByType('resource').some(e => e.name.startsWith("
                     f"'{stage.url}') && /(info|items|settings)/.test(e.name) && "
                     "e.responseStatus === 200)", what="an admin API call answered 200")
    outside = [p for p in stage.paths if not p.startswith("/prod/")]
    assert outside == [], "the pages asked for root paths API Gateway does not serve"
    assert browser.console_errors == []


STREAMED_SEND = (
    "window.partials = []; window.turn = null; QNABOT_TRANSPORT.send('What is it?', "
    "{sessionId: 's9', channel: 'text', onPartial: (text) => { window.partials.push(text); "
    "fetch('https://cognito-identity." + REGION + ".amazonaws.com/ack', {method: 'POST'}); }})"
    ".then(r => { window.turn = r; }, e => { window.turn = {error: String(e)}; }); true")


def test_a_generated_answer_streams_over_the_stacks_websocket_signed_as_the_identity(stack):
    browser, stage, aws = stack
    WEB.update(publicOrPrivate="PUBLIC", streamingUrl=f"wss://{STREAM_HOST}/prod")
    try:
        browser.open(stage.url + "harness")
        assert browser.evaluate("QNABOT_CONFIG.streaming") is True
        browser.evaluate(STREAMED_SEND)
        turn = browser.wait_for("window.turn", what="the Lex reply")
    finally:
        WEB.update(publicOrPrivate="PRIVATE")
        WEB.pop("streamingUrl")
    assert "error" not in turn, turn
    assert browser.evaluate("window.partials") == list(PARTIALS)
    assert turn["display"]["text"] == "Hi there"  # the Lex reply is the answer, whole
    [query] = aws.stream_queries
    assert query["sessionId"] == "s9"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Credential"].startswith("ASIATESTKEY/")
    assert query["X-Amz-Credential"].endswith(f"/{REGION}/execute-api/aws4_request")
    assert query["X-Amz-Security-Token"] == "session"
    assert browser.console_errors == []
