"""Who may use the admin API: the local token, and every admin route refusing strangers."""

from __future__ import annotations

import stat

import pytest

from content_designer.api import create_app, openapi_document
from content_designer.auth import is_authorized, load_or_create_token, token_path
from content_designer.services import cognito_authorizer
from tests.content_designer.conftest import TOKEN, ApiClient

PUBLIC = {("get", "/health"), ("get", "/openapi.json"), ("post", "/chat"), ("post", "/feedback")}


def operations(services) -> list[tuple[str, str]]:
    document = openapi_document(create_app(services))
    return [(method, path) for path, item in document["paths"].items() for method in item]


def concrete(path: str) -> str:
    return (path.replace("{qid}", "Alexa.001").replace("{item_type}", "qna")
            .replace("{job_id}", "import-20260101T000000-00000000"))


def test_the_token_is_created_once_with_owner_only_permissions(tmp_path):
    token, created = load_or_create_token(tmp_path)
    again, created_again = load_or_create_token(tmp_path)
    assert created and not created_again and token == again and len(token) >= 40
    assert stat.S_IMODE(token_path(tmp_path).stat().st_mode) == 0o600


def test_a_token_file_readable_by_others_is_tightened(tmp_path):
    token_path(tmp_path).write_text("existing-token\n")
    token_path(tmp_path).chmod(0o644)
    assert load_or_create_token(tmp_path) == ("existing-token", False)
    assert stat.S_IMODE(token_path(tmp_path).stat().st_mode) == 0o600


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer wrong", f"Basic {TOKEN}",
                                    f"Bearer {TOKEN}x", f"bearer {TOKEN[:-1]}"])
def test_anything_but_the_exact_bearer_token_is_refused(header):
    assert not is_authorized(header, TOKEN)
    assert is_authorized(f"Bearer {TOKEN}", TOKEN) and is_authorized(f"bearer  {TOKEN}", TOKEN)


def test_every_admin_route_refuses_a_request_without_the_token(client, services):
    admin = [op for op in operations(services) if op not in PUBLIC]
    assert len(admin) >= 18
    for method, path in admin:
        for body in (None, {"bad": "body"}):
            reply = client.request(method.upper(), concrete(path), json_body=body, auth=False)
            assert reply.status == 401, (method, path, reply.body)
            assert reply.headers["www-authenticate"] == "Bearer"


def test_every_admin_route_is_declared_secured_in_the_openapi_document(services):
    document = openapi_document(create_app(services))
    for path, item in document["paths"].items():
        for method, operation in item.items():
            secured = operation.get("security") == [{"bearerAuth": []}]
            assert secured == ((method, path) not in PUBLIC), (method, path)


def test_public_routes_need_no_token(client):
    assert client.get("/health", auth=False).status == 200
    assert client.get("/openapi.json", auth=False).status == 200
    assert client.post("/chat", {"text": "hi", "session_id": "s"}, auth=False).status == 200


def test_in_aws_admin_routes_need_the_cognito_claims(make_services):
    services = make_services()
    services.authorize = cognito_authorizer
    client = ApiClient(client_api(services))
    assert client.get("/info").status == 401  # a bearer token alone is not enough here
    claims = {"requestContext": {"authorizer": {"claims": {"sub": "admin"}}}}
    assert cognito_authorizer(claims)


def client_api(services):
    from content_designer.local_server import LocalApi

    return LocalApi(create_app(services))
