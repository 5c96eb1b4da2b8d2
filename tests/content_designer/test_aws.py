"""The AWS side of the content designer: the API Lambda, S3 jobs behind the API, S3 feedback.

S3 is moto's in-memory fake; the knowledge base is the local one with hashing embeddings.
"""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from content_designer import lambda_function
from content_designer.api import create_app
from content_designer.chat import LocalLambdaContext
from content_designer.feedback import Feedback
from content_designer.feedback_s3 import S3FeedbackLog
from content_designer.jobs_s3 import S3JobQueue
from content_designer.local_server import LocalApi
from content_designer.services import cognito_authorizer, job_runner
from tests.content_designer.conftest import ApiClient, fixture_bytes

BUCKET = "qnabot-import-export-test"


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def aws_client(services, s3):
    """The admin API over S3 jobs and feedback, as the Lambda builds it."""
    services.jobs = S3JobQueue(BUCKET, s3)
    services.feedback = S3FeedbackLog(BUCKET, s3)
    return ApiClient(LocalApi(create_app(services)))


def run_pending(services, s3) -> None:
    """What the bucket's events would do: run every job object waiting in the bucket."""
    queue = services.jobs
    for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        queue.run_object(obj["Key"], job_runner(services.kb, services.settings_repo))


def test_an_upload_through_the_api_is_imported_by_the_bucket_job(aws_client, services, s3):
    reply = aws_client.upload("/jobs/import", "blog.json", fixture_bytes("blog-samples-final.json"))
    assert reply.status == 202 and reply.json()["state"] == "queued"
    run_pending(services, s3)
    status = aws_client.get(f"/jobs/{reply.json()['id']}").json()
    assert status["state"] == "succeeded"
    assert status["counts"] == {"read": 20, "stored": 20, "rejected": 0}


def test_an_export_in_aws_is_downloaded_from_a_presigned_link(aws_client, services, s3):
    reply = aws_client.post("/jobs/export", {})
    run_pending(services, s3)
    download = aws_client.get(f"/jobs/{reply.json()['id']}/download")
    assert download.status == 302
    assert download.headers["location"].startswith("https://")


def test_feedback_is_kept_in_the_bucket_newest_first(aws_client, s3):
    log = S3FeedbackLog(BUCKET, s3)
    log.record(Feedback("s", "A.1", "q?", "up", time="2026-01-01T00:00:00+00:00"))
    log.record(Feedback("s", "B.1", "q?", "down", time="2026-01-02T00:00:00+00:00"))
    listed = aws_client.get("/feedback").json()
    assert listed["total"] == 2 and [f["qid"] for f in listed["feedback"]] == ["B.1", "A.1"]
    assert aws_client.get("/feedback?verdict=up").json()["total"] == 1


def test_the_lambda_needs_the_bucket_named(monkeypatch):
    monkeypatch.delenv("IMPORT_EXPORT_BUCKET", raising=False)
    lambda_function.services.cache_clear()
    with pytest.raises(Exception, match="IMPORT_EXPORT_BUCKET"):
        lambda_function.services()


def test_the_lambda_serves_the_api_and_refuses_admin_routes_without_cognito_claims(
        services, monkeypatch):
    services.authorize = cognito_authorizer
    services.chat = None
    monkeypatch.setattr(lambda_function, "app", lambda: create_app(services))
    event = {"httpMethod": "GET", "path": "/info", "headers": {}, "requestContext": {},
             "queryStringParameters": None, "body": None, "isBase64Encoded": False}
    assert lambda_function.lambda_handler(event, LocalLambdaContext())["statusCode"] == 401
    event["requestContext"]["authorizer"] = {"claims": {"cognito:username": "admin"}}
    assert lambda_function.lambda_handler(event, LocalLambdaContext())["statusCode"] == 200
    designer = {**event, "path": "/designer"}
    page = lambda_function.lambda_handler(designer, LocalLambdaContext())
    assert page["statusCode"] == 200 and "designer.js" in page["body"]
    chat_page = lambda_function.lambda_handler({**event, "path": "/chat"}, LocalLambdaContext())
    assert chat_page["statusCode"] == 404  # no chat in AWS: Lex and its web UI do that


def test_job_statuses_written_by_the_bucket_job_read_back_whole(aws_client, services, s3):
    reply = aws_client.post("/jobs/test-all")
    run_pending(services, s3)
    body = s3.get_object(Bucket=BUCKET, Key=f"status/{reply.json()['id']}.json")["Body"].read()
    assert json.loads(body)["state"] == "succeeded"
