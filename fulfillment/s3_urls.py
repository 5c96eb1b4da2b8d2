"""Presigned S3 links for the ``{{signS3URL 'https://bucket.s3.amazonaws.com/key'}}`` helper.

QnABot turns an S3 object URL in an answer into a link that works for 300 seconds, so answers
can show documents and images from private buckets (the function's role must be allowed to read
them). The URL forms S3 uses are understood: ``s3://bucket/key``,
``https://bucket.s3[.region].amazonaws.com/key`` and ``https://s3[.region].amazonaws.com/bucket/key``.
Anything else is returned unchanged.

Example:
    >>> parse_s3_url("https://qnabot-docs.s3.us-east-1.amazonaws.com/guides/a%20b.pdf")
    ('qnabot-docs', 'guides/a b.pdf')
    >>> parse_s3_url("https://example.com/x.png") is None
    True
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlparse

#: QnABot's lifetime for signed links.
EXPIRES_SECONDS = 300

_VIRTUAL_HOST = re.compile(r"^(?P<bucket>[a-z0-9.\-]+)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com$")
_PATH_STYLE = re.compile(r"^s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com$")


def parse_s3_url(url: str) -> tuple[str, str] | None:
    """(bucket, key) of an S3 object URL, or None when ``url`` is not one."""
    parsed = urlparse(url.strip())
    if parsed.scheme == "s3" and parsed.netloc and parsed.path.strip("/"):
        return parsed.netloc, unquote(parsed.path.lstrip("/"))
    if parsed.scheme not in ("https", "http"):
        return None
    host = (parsed.hostname or "").lower()
    if match := _VIRTUAL_HOST.match(host):
        key = unquote(parsed.path.lstrip("/"))
        return (match.group("bucket"), key) if key else None
    if _PATH_STYLE.match(host):
        bucket, _, key = parsed.path.lstrip("/").partition("/")
        return (bucket, unquote(key)) if bucket and key else None
    return None


class S3UrlSigner:
    """Callable that presigns S3 object URLs (boto3's S3 client, created on first use)."""

    def __init__(self, client: Any = None, expires: int = EXPIRES_SECONDS):
        self._client = client
        self.expires = expires

    def __call__(self, url: str) -> str:
        """A presigned GET URL for ``url``, or ``url`` itself when it is not an S3 object."""
        found = parse_s3_url(url)
        if found is None:
            return url
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client("s3", config=Config(signature_version="s3v4"))
        bucket, key = found
        return self._client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=self.expires)
