"""Fixtures for the content designer tests: a data folder, the API app, and a client for it.

The client sends requests through :func:`content_designer.local_server.api_gateway_event`,
the same translation ``qnabot serve`` uses, into the one resolver, in process: no sockets.
Embeddings are the deterministic hashing model, so no model is loaded.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from content_designer import aws_web, lambda_function
from content_designer.api import ADMIN, create_app
from content_designer.auth import token_authorizer
from content_designer.chat import ChatService
from content_designer.local_server import LocalApi, api_gateway_event
from content_designer.services import DesignerServices, open_services
from tests.shared_fixtures import FIXTURES

TOKEN = "test-token-" + "x" * 20


def fixture_bytes(name: str) -> bytes:
    """A shared QnABot sample package, as uploaded."""
    return (FIXTURES / name).read_bytes()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type, as a browser's FormData sends it."""
    boundary = "----qnabot" + secrets.token_hex(8)
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     .encode() + value.encode() + b"\r\n")
    for name, (filename, content) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: application/json\r\n\r\n'
                     .encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


class ApiClient:
    """Calls the API app as ``qnabot serve`` would, with or without the admin token."""

    def __init__(self, api: LocalApi, token: str = TOKEN):
        self.api = api
        self.token = token

    def request(self, method: str, target: str, *, json_body: Any = None, raw: bytes | None = None,
                content_type: str = "", auth: bool = True) -> Reply:
        headers = {"Host": "127.0.0.1"}
        body = raw
        if json_body is not None:
            body, content_type = json.dumps(json_body).encode(), "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        response = self.api(api_gateway_event(method, target, headers, body))
        returned = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            returned[name.lower()] = ", ".join(values)
        return Reply(response["statusCode"], returned, response.get("body") or "")

    def get(self, target: str, **kw) -> Reply:
        return self.request("GET", target, **kw)

    def post(self, target: str, body: Any = None, **kw) -> Reply:
        return self.request("POST", target, json_body=body, **kw)

    def put(self, target: str, body: Any = None, **kw) -> Reply:
        return self.request("PUT", target, json_body=body, **kw)

    def delete(self, target: str, **kw) -> Reply:
        return self.request("DELETE", target, **kw)

    def upload(self, target: str, filename: str, content: bytes, **fields: str) -> Reply:
        body, content_type = multipart(fields, {"file": (filename, content)})
        return self.request("POST", target, raw=body, content_type=content_type)

    def run_job(self, reply: Reply, services: DesignerServices) -> dict[str, Any]:
        """Wait for the job a 202 reply started, then return its status through the API."""
        assert reply.status == 202, reply.body
        job_id = reply.json()["id"]
        services.jobs.wait(job_id, timeout=60)
        return self.get(f"/jobs/{job_id}").json()


def echo_fulfill(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A stand-in fulfillment handler: echoes the question and counts turns per session."""
    attributes = dict(event["sessionState"]["sessionAttributes"])
    turns = int(attributes.get("turns", "0")) + 1
    attributes.update(turns=str(turns), qnabot_qid="Echo.001",
                      appContext=json.dumps({"altMessages": {
                          "markdown": f"You said **{event['inputTranscript']}**"}}))
    return {
        "sessionState": {"sessionAttributes": attributes, "dialogAction": {"type": "Close"},
                         "intent": {"name": "FallbackIntent", "state": "Fulfilled"}},
        "messages": [
            {"contentType": "PlainText", "content": f"You said {event['inputTranscript']}"},
            {"contentType": "ImageResponseCard", "imageResponseCard": {
                "title": "More", "buttons": [{"text": "Again", "value": "say again"}]}},
        ],
    }


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder with the hashing embeddings selected."""
    folder = tmp_path / "home"
    monkeypatch.setenv("QNABOT_HOME", str(folder))
    monkeypatch.setenv("EMBEDDINGS_API", "HASHING")
    monkeypatch.delenv("SETTINGS_TABLE", raising=False)
    monkeypatch.setenv("QNABOT_STORE", "embedded")
    return folder


@pytest.fixture
def make_services(home: Path) -> Callable[..., DesignerServices]:
    """Build services over ``home``; chat goes to ``fulfill`` (the echo stand-in by default)."""
    built: list[DesignerServices] = []

    def make(fulfill=echo_fulfill) -> DesignerServices:
        services = open_services(home, authorize=token_authorizer(TOKEN))
        services.chat = ChatService(fulfill) if fulfill else None
        built.append(services)
        return services

    yield make
    for services in built:
        services.jobs.shutdown()


@pytest.fixture
def services(make_services) -> DesignerServices:
    return make_services()


@pytest.fixture
def client(services: DesignerServices) -> ApiClient:
    return ApiClient(LocalApi(create_app(services)))


@pytest.fixture
def loaded(client: ApiClient, services: DesignerServices) -> ApiClient:
    """A client over a knowledge base holding the two shared sample packages."""
    for name in ("blog-samples-final.json", "TextPassage-NurseryRhymeExamples.json"):
        status = client.run_job(client.upload("/jobs/import", name, fixture_bytes(name)), services)
        assert status["state"] == "succeeded", status
    return client


def use_lambda_app(services: DesignerServices, web: dict[str, Any],
                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the designer Lambda serve ``services`` as in AWS: the API plus the AWS routes,
    admins only, no local chat, with ``web`` as the stack's web configuration."""
    services.authorize = aws_web.admins_only
    services.chat = None
    app = create_app(services)
    aws_web.register_routes(app, lambda: web, ADMIN)
    monkeypatch.setattr(lambda_function, "app", lambda: app)
    monkeypatch.setattr(lambda_function, "web_config", lambda: web)
