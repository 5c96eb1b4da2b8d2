"""The ``qnabot serve`` adapter over real HTTP on 127.0.0.1: pages, headers, limits, uploads."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from content_designer.local_server import MAX_BODY_BYTES, api_gateway_event, make_server
from tests.content_designer.conftest import TOKEN, fixture_bytes, multipart


@pytest.fixture
def base_url(services):
    server = make_server(services, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.url
    server.shutdown()
    server.server_close()


def fetch(url: str, *, method: str = "GET", body: bytes | None = None,
          headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_pages_are_served_with_a_strict_content_security_policy(base_url):
    for path, marker in (("/", b"chat.js"), ("/chat", b"chat.js"), ("/designer", b"designer.js"),
                         ("/static/app.css", b"--accent")):
        status, headers, body = fetch(base_url + path)
        assert status == 200 and marker in body, path
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_static_paths_cannot_leave_the_static_folder(base_url):
    for path in ("/static/../api.py", "/static/..%2Fapi.py", "/static/.hidden.js",
                 "/static/missing.js", "/static/chat.py"):
        assert fetch(base_url + path)[0] == 404, path


def test_api_requests_go_through_the_resolver_with_the_token(base_url):
    status, _, body = fetch(base_url + "/info", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and json.loads(body)["items"] == 0
    assert fetch(base_url + "/info")[0] == 401


def test_a_browser_upload_imports_through_http(base_url, services):
    body, content_type = multipart({"replace_all": "false"},
                                   {"file": ("blog.json", fixture_bytes("blog-samples-final.json"))})
    status, _, reply = fetch(base_url + "/jobs/import", method="POST", body=body,
                             headers={"Authorization": f"Bearer {TOKEN}",
                                      "Content-Type": content_type})
    assert status == 202
    assert services.jobs.wait(json.loads(reply)["id"]).counts["stored"] == 20


def test_an_oversized_request_is_refused_before_it_is_read(base_url):
    request = urllib.request.Request(base_url + "/jobs/import", method="POST", data=b"x",
                                     headers={"Content-Length": str(MAX_BODY_BYTES + 1)})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413


def test_the_event_carries_decoded_path_query_and_binary_bodies_as_base64():
    event = api_gateway_event("POST", "/items/A%2E1?qid=x&qid=y", {"Content-Type": "image/png"},
                              b"\x89PNG")
    assert event["path"] == "/items/A.1"
    assert event["queryStringParameters"] == {"qid": "y"}
    assert event["multiValueQueryStringParameters"] == {"qid": ["x", "y"]}
    assert event["isBase64Encoded"] is True and event["body"] == "iVBORw=="


def test_a_request_with_a_bogus_content_length_is_a_400(base_url):
    address = urlsplit(base_url)
    for value in ("-5", "lots"):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        connection.putrequest("POST", "/chat")
        connection.putheader("Content-Length", value)
        connection.endheaders()
        assert connection.getresponse().status == 400
        connection.close()
