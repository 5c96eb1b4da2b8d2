"""The classifier in S3 (the AWS adapter of :class:`knowledge.classifier.ClassifierRepo`).

In AWS the store is OpenSearch and every Lambda container is short-lived, so the trained model
is one object, ``classifier/<OPENSEARCH_INDEX>.npz`` in the stack's import/export bucket
(``CLASSIFIER_BUCKET``, ``CLASSIFIER_KEY``). The import/export function trains and saves it;
the fulfillment and designer functions load it. Every turn asks :meth:`S3ClassifierRepo.version`
whether the model changed; that answer is the object's ETag, read with a HEAD request at most
every :data:`VERSION_TTL` seconds, so a warm turn makes no S3 call and a new model reaches
every container within a minute.

S3 failing never fails a turn: a failed HEAD keeps the last answer (and the model loaded with
it), a failed GET keeps the model loaded before (and is tried again after the next HEAD), and
each distinct error is logged once per process; without any model, matching decides on the
cosine (:mod:`knowledge.matching`).

Example:
    >>> repo = S3ClassifierRepo("qnabot-jobs-123", "classifier/qnabot.npz")  # doctest: +SKIP
    >>> repo.save(model)  # doctest: +SKIP
    >>> repo.load().qids == model.qids  # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from knowledge.aws import LazyClient
from knowledge.classifier import ItemClassifier

logger = logging.getLogger(__name__)

#: Seconds a HEAD answer is reused: the longest a container serves an older model.
VERSION_TTL = 60.0
#: Seconds one S3 read may wait: a turn (30 s Lambda limit) must go on without the model.
READ_TIMEOUT = 10.0
#: Distinct S3 errors logged per process (each once).
MAX_REPORTED = 20
#: The codes S3 answers a HEAD or GET of a missing object with.
MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


class S3ClassifierRepo:
    """The model as one S3 object, written with server-side encryption (SSE-S3, as the stack's
    buckets); see the module docstring for caching and failures."""

    def __init__(self, bucket: str, key: str, *, client: Any = None,
                 clock: Callable[[], float] = time.monotonic, ttl: float = VERSION_TTL):
        self.bucket, self.key = bucket, key
        self._s3 = LazyClient("s3", read_timeout=READ_TIMEOUT, client=client)
        self._clock, self._ttl = clock, ttl
        self._checked_at: float | None = None
        self._etag: str | None = None  # of the object at the last HEAD (None: missing)
        self._failed_loads = 0  # part of the version, so a failed GET is tried again
        self._model: ItemClassifier | None = None
        self._model_etag: str | None = None
        self._reported: set[str] = set()
        self._version: object = None

    @property
    def location(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"

    def version(self) -> object:
        """The object's ETag (None while there is none), re-read at most every ``ttl`` seconds;
        the last answer while S3 cannot be reached."""
        now = self._clock()
        if self._checked_at is None or now - self._checked_at >= self._ttl:
            self._checked_at = now
            try:
                self._etag = self._s3.get().head_object(Bucket=self.bucket,
                                                        Key=self.key)["ETag"]
            except (ClientError, BotoCoreError) as exc:
                if _is_missing(exc):
                    self._etag = None
                else:
                    self._report("check", exc)
            # fixed until the next HEAD: a failed GET is retried then, not on every turn
            self._version = (self._etag, self._failed_loads)
        return self._version

    def load(self) -> ItemClassifier | None:
        """The saved model; None when there is none; the model loaded before when it cannot
        be read now."""
        if self._etag is not None and self._etag == self._model_etag:
            return self._model  # this process saved it (or already read it)
        try:
            reply = self._s3.get().get_object(Bucket=self.bucket, Key=self.key)
            model = ItemClassifier.from_bytes(reply["Body"].read())
        except (ClientError, BotoCoreError) as exc:
            if _is_missing(exc):
                self._model = self._model_etag = None
                return None
            return self._keep_previous("read", exc)
        except (OSError, ValueError, KeyError) as exc:
            return self._keep_previous("read", exc)
        self._model, self._model_etag = model, reply.get("ETag")
        self._etag = self._model_etag
        return model

    def save(self, model: ItemClassifier) -> None:
        """Replace the saved model (one PUT: readers get the old or the new one, never half).
        S3 errors propagate: the trainer reports them."""
        reply = self._s3.get().put_object(Bucket=self.bucket, Key=self.key,
                                          Body=model.to_bytes(), ServerSideEncryption="AES256",
                                          ContentType="application/octet-stream")
        self._model, self._model_etag = model, reply.get("ETag")
        self._etag, self._checked_at = self._model_etag, self._clock()
        self._version = (self._etag, self._failed_loads)

    def _keep_previous(self, doing: str, exc: Exception) -> ItemClassifier | None:
        self._failed_loads += 1
        self._report(doing, exc)
        return self._model

    def _report(self, doing: str, exc: Exception) -> None:
        problem = f"{type(exc).__name__}: {exc}"
        # once per distinct error and process, not once a minute
        if problem not in self._reported and len(self._reported) < MAX_REPORTED:
            self._reported.add(problem)
            logger.warning(
                "could not %s the classifier at %s (%s); matching goes on with the model "
                "loaded before, or the cosine without one. Check that the function's role may "
                "s3:GetObject it (without s3:ListBucket a missing object also reads as "
                "AccessDenied: import content to train it).", doing, self.location, problem)


def _is_missing(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and str(
        exc.response.get("Error", {}).get("Code")) in MISSING
