"""signS3URL links: S3 object URLs presigned for 300 seconds, other URLs left alone."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from botocore.config import Config

from fulfillment.s3_urls import S3UrlSigner, parse_s3_url
from fulfillment.templating import TemplateContext, render_template


@pytest.mark.parametrize(("url", "expected"), [
    ("s3://qna-docs/a/b.pdf", ("qna-docs", "a/b.pdf")),
    ("https://qna-docs.s3.amazonaws.com/b.pdf", ("qna-docs", "b.pdf")),
    ("https://qna-docs.s3.eu-west-1.amazonaws.com/a%20b.png", ("qna-docs", "a b.png")),
    ("https://s3.us-west-2.amazonaws.com/qna-docs/x/y.png", ("qna-docs", "x/y.png")),
    ("https://example.com/qna-docs/y.png", None),
    ("https://qna-docs.s3.amazonaws.com/", None),
    ("javascript:alert(1)", None),
])
def test_s3_object_urls_are_recognised(url, expected):
    assert parse_s3_url(url) == expected


def test_an_answer_link_is_presigned_for_300_seconds():
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                          aws_secret_access_key="secret",
                          config=Config(signature_version="s3v4"))
    answer = render_template("[guide]({{signS3URL 'https://qna-docs.s3.amazonaws.com/g.pdf'}})",
                             TemplateContext(sign_url=S3UrlSigner(client)))
    url = answer[len("[guide]("):-1]
    parsed = urlparse(url)
    assert parsed.path.endswith("/g.pdf") and "qna-docs" in parsed.netloc + parsed.path
    query = parse_qs(parsed.query)
    assert query["X-Amz-Expires"] == ["300"] and "X-Amz-Signature" in query
    assert "&amp;" not in answer  # a signed URL is not escaped


def test_a_url_that_is_not_s3_is_left_unchanged():
    assert S3UrlSigner(client=object())("https://example.com/a.png") == "https://example.com/a.png"
