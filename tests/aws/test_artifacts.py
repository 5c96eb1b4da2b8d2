"""The Lambda zips are real: each function of the template runs from its zip alone.

``infra.package`` builds both zips for python3.12 on x86_64 (dependencies cached under
``build/.deps`` by lock hash, so only the first run downloads wheels). Each zip is unpacked and
every handler the template names is imported and given one real event of its kind in an
isolated Python 3.12 (``-I``: no site-packages, no user path, no PYTHONPATH), with nothing on
``sys.path`` but the standard library, the artifact, and what the Lambda runtime provides
(boto3 and its dependencies, installed from the lock for the same platform). AWS services are
a small HTTP double on 127.0.0.1 that the runtime's boto3 reaches through
``AWS_ENDPOINT_URL_<SERVICE>``; CloudFormation's response URL points at it too.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from content_designer.local_server import api_gateway_event
from fulfillment.lex_event import make_event
from infra import package

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
PYTHON = package.lambda_python()
BUCKET = "qnabot-jobs-test"
SAMPLE = {"qna": [{"qid": "Artifact.001", "q": ["What is in the artifact?"],
                   "a": "Everything the function imports."}]}


class AwsDouble(ThreadingHTTPServer):
    """S3 (path style), DynamoDB, Lex models and CloudFormation responses, in memory."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.objects: dict[str, bytes] = {}
        self.cfn_responses: list[dict[str, Any]] = []
        self.calls: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: AwsDouble

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _reply(self, status: int, body: bytes = b"", kind: str = "application/json",
               headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_PUT(self) -> None:
        body = self._body()
        if self.path.startswith("/cfn/"):
            self.server.cfn_responses.append(json.loads(body))
            return self._reply(200)
        self.server.calls.append(f"s3:PutObject {self.path}")
        self.server.objects[self.path.split("?")[0]] = body
        self._reply(200, headers={"ETag": '"' + hashlib.md5(body).hexdigest() + '"'})

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.server.calls.append(f"s3:GetObject {path}")
        if "list-type=2" in self.path:
            return self._reply(200, b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/'
                                    b'2006-03-01/"><KeyCount>0</KeyCount><IsTruncated>false'
                                    b'</IsTruncated></ListBucketResult>', "application/xml")
        if path not in self.server.objects:
            return self._reply(404, b"<Error><Code>NoSuchKey</Code><Message>none</Message>"
                                    b"</Error>", "application/xml")
        body = self.server.objects[path]
        self._reply(200, body, "application/octet-stream",
                    {"ETag": '"' + hashlib.md5(body).hexdigest() + '"'})

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        self._body()
        target = self.headers.get("X-Amz-Target", "")
        if target.startswith("DynamoDB_"):
            self.server.calls.append(f"dynamodb:{target.split('.')[-1]}")
            reply = {"Items": [], "Count": 0} if target.endswith(".Scan") else {}
            return self._reply(200, json.dumps(reply).encode(), "application/x-amz-json-1.0")
        if self.path.rstrip("/") == "/bots":
            self.server.calls.append("lex:ListBots")
            return self._reply(200, json.dumps({"botSummaries": []}).encode())
        self._reply(400, b'{"message": "not in the double"}')


@pytest.fixture(scope="module")
def aws():
    server = AwsDouble()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, Path]:
    """Both zips, built for the Lambda platform and unpacked."""
    if PYTHON is None:
        pytest.skip("no working Python 3.12 (this one, QNABOT_LAMBDA_PYTHON or pyenv)")
    out = tmp_path_factory.mktemp("build")
    unpacked = {}
    for artifact in package.ARTIFACTS:
        package.build(artifact, out, arch="x86_64", bytecode=False)
        folder = out / artifact.name
        with zipfile.ZipFile(out / f"{artifact.name}.zip") as archive:
            archive.extractall(folder)
        unpacked[f"../build/{artifact.name}.zip"] = folder
    return unpacked


@pytest.fixture(scope="module")
def runtime() -> Path:
    """What the python3.12 Lambda runtime provides: boto3 at the lock's pin, for its platform."""
    pin = package.pins(("boto3",))
    key = hashlib.sha256(json.dumps([package.LOCK.read_text(), pin]).encode()).hexdigest()[:16]
    folder = package.DEPS_CACHE / f"runtime-{key}"
    if not folder.is_dir():
        partial = folder.with_name(folder.name + ".partial")
        subprocess.run(package.pip_command(pin, partial, arch="x86_64"), check=True)
        partial.rename(folder)
    return folder


DRIVER = """
import importlib, json, sys
artifact, runtime, handler = sys.argv[1:4]
sys.path[:0] = [artifact, runtime]
module, _, name = handler.rpartition(".")
function = getattr(importlib.import_module(module), name)

class Context:
    function_name = "test"; function_version = "$LATEST"; memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    def get_remaining_time_in_millis(self): return 600000

result = function(json.loads(sys.stdin.read()), Context())
outside = sorted({m for m, mod in list(sys.modules.items())
                  if getattr(mod, "__file__", None)
                  and not mod.__file__.startswith((artifact, runtime, sys.base_prefix))})
print("RESULT " + json.dumps({"result": result, "outside": outside}, default=str))
"""


def run_handler(folder: Path, runtime: Path, handler: str, event: dict[str, Any],
                env: dict[str, str]) -> dict[str, Any]:
    """Call ``handler`` from the unpacked artifact in an isolated Python 3.12."""
    completed = subprocess.run([PYTHON, "-I", "-B", "-c", DRIVER, str(folder), str(runtime),
                                handler], input=json.dumps(event), capture_output=True,
                               text=True, env=env, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    line = next(x for x in completed.stdout.splitlines() if x.startswith("RESULT "))
    report = json.loads(line.removeprefix("RESULT "))
    assert report["outside"] == [], "imported from outside the artifact"
    return report["result"]


def custom_resource(aws: AwsDouble, kind: str, logical_id: str,
                    properties: dict[str, Any]) -> dict[str, Any]:
    return {"RequestType": kind, "ResponseURL": f"{aws.url}/cfn/{logical_id}",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/qnabot/x",
            "RequestId": "r1", "LogicalResourceId": logical_id, "ResourceType": "Custom::X",
            "ResourceProperties": {"ServiceToken": "arn", **properties}}


def s3_event(key: str) -> dict[str, Any]:
    return {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                         "eventTime": "2026-01-01T00:00:00.000Z",
                         "s3": {"bucket": {"name": BUCKET},
                                "object": {"key": key, "size": 1, "sequencer": "01"}}}]}


def functions() -> dict[str, dict[str, Any]]:
    data, matches = decode(str(TEMPLATE))
    assert not matches
    return {name: r["Properties"] for name, r in data["Resources"].items()
            if r["Type"] == "AWS::Serverless::Function"}


def test_every_function_of_the_template_answers_a_real_event_from_its_zip_alone(
        artifacts, runtime, aws, tmp_path):
    aws.objects[f"/{BUCKET}/imports/sample.json"] = json.dumps(SAMPLE).encode()
    env = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL_S3": aws.url,
           "AWS_ENDPOINT_URL_DYNAMODB": aws.url, "AWS_ENDPOINT_URL_LEX_MODELS_V2": aws.url,
           "QNABOT_HOME": str(tmp_path / "home"), "EMBEDDINGS_API": "HASHING",
           "IMPORT_EXPORT_BUCKET": BUCKET, "SETTINGS_TABLE": "settings",
           "LEX_BOT_NAME": "qnabot-bot", "FULFILLMENT_LAMBDA_ARN": "arn:fulfillment",
           "LEX_BOT_ROLE_ARN": "arn:aws:iam::123456789012:role/lex",
           "POWERTOOLS_SERVICE_NAME": "qnabot", "PYTHONDONTWRITEBYTECODE": "1"}
    local = {**env, "SETTINGS_TABLE": ""}  # turns and pages over the embedded store
    answered = {}
    events = {
        # The import job first, so the turn below finds the item it imported.
        "ImportExportFunction": (s3_event("imports/sample.json"), local),
        "FulfillmentFunction": (make_event("What is in the artifact?", session_id="s1"), local),
        "AdminFunction": (api_gateway_event("GET", "/health", {}, None), local),
        "BotBuildFunction": (custom_resource(aws, "Delete", "LexBot", {}), env),
        "SetupFunction": (custom_resource(aws, "Create", "Setup", {
            "Settings": {"LLM_MODEL_ID": "anthropic.claude-3-haiku-20240307-v1:0"},
            "OpenSearchRoleArns": []}), env),
        "StreamingConnectFunction": ({
            "requestContext": {"routeKey": "$connect", "connectionId": "conn-1",
                               "identity": {"cognitoIdentityId": "us-east-1:abc"}},
            "queryStringParameters": {"sessionId": "s1"}}, {**env, "STREAMING_TABLE": "streaming"}),
    }
    declared = functions()
    assert set(events) == set(declared), "give every function of the template an event"
    for name, (event, variables) in events.items():
        props = declared[name]
        answered[name] = run_handler(artifacts[props["CodeUri"]], runtime, props["Handler"],
                                     event, variables)

    assert answered["ImportExportFunction"]["jobs"][0]["state"] == "succeeded"
    turn = answered["FulfillmentFunction"]
    assert turn["sessionState"]["sessionAttributes"]["qnabot_qid"] == "Artifact.001"
    assert "Everything the function imports." in turn["messages"][0]["content"]
    assert answered["AdminFunction"]["statusCode"] == 200
    assert json.loads(answered["AdminFunction"]["body"]) == {"status": "ok"}
    assert [r["LogicalResourceId"] for r in aws.cfn_responses] == ["LexBot", "Setup"]
    assert all(r["Status"] == "SUCCESS" for r in aws.cfn_responses), aws.cfn_responses
    assert "lex:ListBots" in aws.calls and "dynamodb:TransactWriteItems" in aws.calls, "\n".join(aws.calls)
    assert answered["StreamingConnectFunction"] == {"statusCode": 200}
    assert "dynamodb:PutItem" in aws.calls


def test_the_admin_zip_serves_the_pages_and_renders_markdown(artifacts, runtime, tmp_path):
    """The designer page and the chat display's markdown (markdown-it-py, mdurl) are in
    admin.zip: without them every route of the API was a 502."""
    env = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1",
           "QNABOT_HOME": str(tmp_path), "EMBEDDINGS_API": "HASHING",
           "IMPORT_EXPORT_BUCKET": BUCKET}
    admin = artifacts["../build/admin.zip"]
    page = run_handler(admin, runtime, "content_designer.lambda_function.lambda_handler",
                       api_gateway_event("GET", "/designer", {}, None), env)
    assert page["statusCode"] == 200 and "<html" in page["body"].lower()
    assert (admin / "markdown_it").is_dir() and (admin / "mdurl").is_dir()
    refused = run_handler(admin, runtime, "content_designer.lambda_function.lambda_handler",
                          api_gateway_event("GET", "/info", {}, None), env)
    assert refused["statusCode"] == 401


def test_the_zips_are_built_for_the_lambda_platform_not_this_machine(artifacts):
    fulfillment = artifacts["../build/fulfillment.zip"]
    numpy_libs = [p.name for p in fulfillment.glob("numpy/_core/*.so")]
    assert numpy_libs and all("cpython-312-x86_64-linux-gnu" in n for n in numpy_libs)
    for folder in artifacts.values():
        assert not (folder / "boto3").exists() and not (folder / "grpc").exists()
