"""Fixtures for the AWS adapters: moto-mocked services with fake credentials."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

#: The stack's import/export bucket (jobs, feedback and the classifier live there).
BUCKET = "qnabot-import-export-123456789012"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch):
    """Fake credentials and a region, so no test can reach a real account."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def create_table(client, name: str, key: str) -> None:
    """An on-demand DynamoDB table with one string hash key, as the template creates them."""
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])


@pytest.fixture
def s3():
    """A moto S3 client with the import/export bucket created."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client
