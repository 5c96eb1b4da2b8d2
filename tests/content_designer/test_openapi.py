"""The OpenAPI document stays true: every route is in it, and fuzzing it finds no 500.

The fuzzing runs schemathesis in process: a few lines of WSGI glue hand its requests to the
same API Gateway translation ``qnabot serve`` uses.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from content_designer.api import create_app, openapi_document
from content_designer.auth import token_authorizer
from content_designer.chat import ChatService
from content_designer.feedback import FileFeedbackLog
from content_designer.jobs import LocalJobQueue
from content_designer.local_server import LocalApi, api_gateway_event
from content_designer.services import DesignerServices, job_runner
from knowledge.embeddings.hashing import HashingEmbeddings
from knowledge.knowledge_base import KnowledgeBase
from knowledge.settings_file import FileSettingsRepo
from knowledge.stores.sqlite_store import SqliteStore
from tests.content_designer.conftest import TOKEN, echo_fulfill


def route_keys(app) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every route registered on the resolver."""
    return {(route.method.lower(), route.openapi_path)
            for route in app._static_routes + app._dynamic_routes if route.include_in_schema}


def document_keys(document: dict) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item}


def test_every_route_of_the_resolver_is_in_the_openapi_document(services):
    app = create_app(services)
    assert route_keys(app) == document_keys(openapi_document(app))
    pages = [route.openapi_path for route in app._static_routes + app._dynamic_routes
             if not route.include_in_schema]
    assert sorted(pages) == ["/", "/chat", "/config.js", "/designer", "/static/{name}"]  # pages


def test_the_served_document_describes_bodies_parameters_and_security(client):
    document = client.get("/openapi.json", auth=False).json()
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    test = document["paths"]["/test"]["post"]
    assert "requestBody" in test and test["security"] == [{"bearerAuth": []}]
    listing = {p["name"] for p in document["paths"]["/items"]["get"]["parameters"]}
    assert listing == {"q", "qid", "prefix", "topic", "type", "client", "sort", "order",
                       "offset", "limit"}
    upload = document["paths"]["/jobs/import"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload


# --- fuzzing ----------------------------------------------------------------------------------


def wsgi(api: LocalApi):
    """WSGI -> API Gateway event -> the resolver, as the local server does over HTTP."""
    def app(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else None
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        target = environ.get("PATH_INFO", "/") + (f"?{environ['QUERY_STRING']}"
                                                  if environ.get("QUERY_STRING") else "")
        response = api(api_gateway_event(environ["REQUEST_METHOD"], target, headers, body))
        returned = dict(response.get("headers") or {})
        for name, values in (response.get("multiValueHeaders") or {}).items():
            returned[name] = ", ".join(values)
        start_response(f"{response['statusCode']} -", list(returned.items()))
        return [(response.get("body") or "").encode()]
    return app


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory):
    """The served OpenAPI document, loaded by schemathesis, over a fresh knowledge base."""
    home = tmp_path_factory.mktemp("fuzz-home")
    kb = KnowledgeBase(SqliteStore(home / "knowledge.sqlite"), HashingEmbeddings(32))
    repo = FileSettingsRepo(home / "settings.json")
    services = DesignerServices(kb=kb, settings_repo=repo,
                                jobs=LocalJobQueue(home, job_runner(kb, repo)),
                                feedback=FileFeedbackLog(home / "feedback.jsonl"),
                                authorize=token_authorizer(TOKEN), chat=ChatService(echo_fulfill))
    yield schemathesis.openapi.from_wsgi("/openapi.json", wsgi(LocalApi(create_app(services))))
    services.jobs.shutdown()


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_no_request_the_document_allows_gets_a_server_error(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"},
                           checks=[not_a_server_error, status_code_conformance,
                                   response_schema_conformance])
