"""Import, export and "test all" jobs through S3: the import/export Lambda and the designer's
job queue in AWS.

Everything lives in one bucket (the stack's ``ImportExportBucket``)::

    imports/<file>                      drop a QnABot file here to import it (console, CLI, SDK)
    imports/<job id>/<file>             what the designer uploads (options in object metadata)
    exports/<job id>/request.json       an export request; the result is written beside it
    exports/<job id>/export.json        the exported QnABot file
    test_all/<job id>/request.json      a "test all" request (optional labeled file beside it)
    status/<job id>.json                every job's status: state, counts, problems, progress
    classifier/<index>.npz              the knowledge base's classifier (knowledge.classifier_s3)

An ``s3:ObjectCreated:*`` event on ``imports/``, ``exports/`` or ``test_all/`` invokes
:func:`lambda_handler`, which downloads the object to ``/tmp`` in a stream and runs the same
:func:`content_designer.jobs.run_job` as ``qnabot serve`` does. The status says ``running``
until the store has committed the whole import (one transaction: an OpenSearch re-index swaps
an alias, an upsert is sent only after the whole file was read and embedded), so a half-applied
import is never shown as ``succeeded``; a function that times out leaves ``running``, which
:meth:`S3JobQueue.status` reports as failed once the function's time limit has passed.

The same function trains the knowledge base's classifier and saves it to S3, where every
function reads it: after an import (in the same invocation, once the job's status is final)
and when the designer sends :data:`TRAIN_CLASSIFIER_EVENT` after an edit
(:class:`InvokeClassifierTraining`). See :class:`JobWorker`.

Example:
    >>> queue = S3JobQueue("qnabot-jobs-123")  # doctest: +SKIP
    >>> job = queue.submit("import", upload=b'{"qna": []}', filename="faq.json")  # doctest: +SKIP
    >>> queue.status(job.id).state  # doctest: +SKIP
    'queued'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from content_designer.jobs import (
    EXPORT_FILE,
    JobKind,
    JobSpec,
    JobStatus,
    Tracker,
    is_job_id,
    new_job_id,
    run_job,
)
from knowledge.aws import LazyClient
from knowledge.knowledge_base import KnowledgeBase
from knowledge.settings import Settings

logger = logging.getLogger(__name__)

PREFIXES: dict[str, JobKind] = {"imports/": "import", "exports/": "export",
                                "test_all/": "test_all"}
STATUS_PREFIX = "status/"
REQUEST_FILE = "request.json"
OPTIONS_METADATA = "qnabot-options"  # x-amz-meta-qnabot-options: JSON of the job's options
#: A job still "running" this long after it started was cut short (Lambda's limit is 15 min).
STALE_AFTER = timedelta(minutes=16)

#: Runs one job: ``(spec, tracker, output folder)``, as :data:`content_designer.jobs.JobRunner`.
Runner = Callable[[JobSpec, Tracker, Path], None]
#: The event that has the function train the classifier (sent after an edit by the designer).
TRAIN_CLASSIFIER_EVENT = {"action": "train-classifier"}


def job_for_key(key: str, dropped_id: str = "") -> tuple[str, JobKind, str] | None:
    """``(job id, kind, file name)`` for an object key that starts a job, else None.

    A file dropped straight into ``imports/`` gets ``dropped_id`` (see :func:`dropped_job_id`).

    Example:
        >>> job_for_key("imports/import-20260101T120000-1a2b3c4d/faq.json")
        ('import-20260101T120000-1a2b3c4d', 'import', 'faq.json')
        >>> job_for_key("exports/export-20260101T120000-1a2b3c4d/export.json") is None
        True
    """
    for prefix, kind in PREFIXES.items():
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        folder, _, name = rest.partition("/")
        if name and is_job_id(folder) and folder.startswith(kind):
            if kind != "import" and name != REQUEST_FILE:
                return None  # results and uploaded inputs written beside a request
            return folder, kind, name
        if kind == "import" and rest and "/" not in rest:
            return dropped_id or new_job_id("import"), kind, rest
        return None
    return None


class S3JobQueue:
    """The :class:`content_designer.jobs.JobQueue` port over the import/export bucket."""

    def __init__(self, bucket: str, client: Any = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.bucket = bucket
        self.client = client or boto3.client("s3")
        self._now = now

    def submit(self, kind: JobKind, *, upload: bytes | None = None, filename: str = "",
               options: dict[str, Any] | None = None) -> JobStatus:
        """Write the queued status, then the object whose event starts the job."""
        job_id = new_job_id(kind)
        status = JobStatus(job_id, kind, filename=filename or "upload",
                           options=dict(options or {}))
        self.save(status)
        prefix = next(p for p, k in PREFIXES.items() if k == kind)
        if kind == "import":
            self.client.put_object(
                Bucket=self.bucket, Key=f"{prefix}{job_id}/{_safe_name(status.filename)}",
                Body=upload or b"", Metadata={OPTIONS_METADATA: json.dumps(status.options)})
            return status
        if upload is not None:
            self.client.put_object(Bucket=self.bucket, Key=f"{prefix}{job_id}/upload",
                                   Body=upload)
        request = {"options": status.options, "filename": status.filename,
                   "upload": upload is not None}
        self.client.put_object(Bucket=self.bucket, Key=f"{prefix}{job_id}/{REQUEST_FILE}",
                               Body=json.dumps(request).encode(),
                               ContentType="application/json")
        return status

    def status(self, job_id: str) -> JobStatus | None:
        """The job's status; a job cut short by the function's time limit reads as failed."""
        if not is_job_id(job_id):
            return None
        try:
            body = self.client.get_object(Bucket=self.bucket,
                                          Key=f"{STATUS_PREFIX}{job_id}.json")["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise
        status = JobStatus.from_json(json.loads(body))
        if status.state == "running" and status.started and (
                self._now() - datetime.fromisoformat(status.started) > STALE_AFTER):
            status.state = "failed"
            status.error = ("interrupted: the import/export function stopped (time limit) "
                            "before the job finished; the knowledge base is as it was before "
                            "the job. Split the file or run it again.")
        return status

    def list(self, limit: int = 50) -> list[JobStatus]:
        """The newest jobs first."""
        ids = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=STATUS_PREFIX):
            ids += [obj["Key"][len(STATUS_PREFIX):-len(".json")] for obj in
                    page.get("Contents", ())]
        ids = sorted((i for i in ids if is_job_id(i)), key=lambda i: i.split("-", 1)[1],
                     reverse=True)
        statuses = (self.status(job_id) for job_id in ids[:limit])
        return [s for s in statuses if s is not None]

    def output(self, job_id: str) -> Path | None:
        """Exports stay in S3: use :meth:`output_url`. (Kept for the port; always None.)"""
        return None

    def output_url(self, job_id: str, expires: int = 900) -> str | None:
        """A pre-signed download link for a finished export, or None."""
        status = self.status(job_id)
        if status is None or status.kind != "export" or status.state != "succeeded":
            return None
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket,
                                  "Key": f"exports/{job_id}/{EXPORT_FILE}"},
            ExpiresIn=expires)

    def shutdown(self) -> None:
        """Nothing runs in this process."""

    def save(self, status: JobStatus) -> None:
        """Write the status object (one PUT: readers see the old or the new one, never half)."""
        self.client.put_object(Bucket=self.bucket, Key=f"{STATUS_PREFIX}{status.id}.json",
                               Body=json.dumps(status.to_json(), ensure_ascii=False).encode(),
                               ContentType="application/json")

    # --- the Lambda side -----------------------------------------------------------------------

    def run_object(self, key: str, runner: Runner, dropped_id: str = "") -> JobStatus | None:
        """Run the job that the object ``key`` starts; None when the key starts no job or
        the job already ran (S3 may deliver an event twice)."""
        job = job_for_key(key, dropped_id)
        if job is None:
            logger.info("ignoring s3://%s/%s: it starts no job", self.bucket, key)
            return None
        job_id, kind, name = job
        existing = self.status(job_id)
        if existing is not None and existing.state != "queued":
            logger.info("job %s already %s; ignoring the repeated event", job_id, existing.state)
            return None
        with tempfile.TemporaryDirectory(prefix="qnabot-job-") as folder:
            work = Path(folder)
            spec = self._spec(key, job_id, kind, name, work, existing)
            status = existing or JobStatus(job_id, kind, filename=spec.filename,
                                           options=spec.options)
            runner(spec, Tracker(status, self.save), work)
            if kind == "export" and status.state == "succeeded":
                self.client.upload_file(str(work / EXPORT_FILE), self.bucket,
                                        f"exports/{job_id}/{EXPORT_FILE}")
                status.result["download"] = f"s3://{self.bucket}/exports/{job_id}/{EXPORT_FILE}"
                self.save(status)
        return status

    def _spec(self, key: str, job_id: str, kind: JobKind, name: str, work: Path,
              existing: JobStatus | None) -> JobSpec:
        if kind == "import":
            head = self.client.head_object(Bucket=self.bucket, Key=key)
            options = json.loads(head.get("Metadata", {}).get(OPTIONS_METADATA) or "{}")
            local = work / "upload"
            self.client.download_file(self.bucket, key, str(local))  # streamed to /tmp
            return JobSpec(job_id, kind, local, existing.filename if existing else name, options)
        request = json.loads(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        local = None
        if request.get("upload"):
            local = work / "upload"
            self.client.download_file(self.bucket, key.rsplit("/", 1)[0] + "/upload", str(local))
        return JobSpec(job_id, kind, local, request.get("filename", ""),
                       request.get("options") or {})


def _safe_name(filename: str) -> str:
    name = Path(filename.replace("\\", "/")).name.strip() or "upload"
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:200]


def object_records(event: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(bucket, key, dropped-file job id)`` of each S3 record of a Lambda event (keys
    arrive URL-encoded)."""
    records = []
    for record in event.get("Records", ()):
        if "s3" not in record:
            continue
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        records.append((record["s3"]["bucket"]["name"], key, dropped_job_id(record)))
    return records


def dropped_job_id(record: dict[str, Any]) -> str:
    """The same job id for every delivery of one S3 event (time of the event, and a hash of
    the key and S3's sequencer), so a repeated event is recognised.

    Example:
        >>> dropped_job_id({"eventTime": "2026-01-02T03:04:05.678Z",
        ...                 "s3": {"object": {"key": "imports/faq.json", "sequencer": "0A1"}}})
        'import-20260102T030405-3e6aa641'
    """
    obj = record["s3"]["object"]
    when = datetime.fromisoformat(record.get("eventTime", "").replace("Z", "+00:00") or
                                  datetime.now(UTC).isoformat())
    digest = hashlib.sha256(f"{obj['key']}|{obj.get('sequencer', '')}".encode()).hexdigest()
    return f"import-{when:%Y%m%dT%H%M%S}-{digest[:8]}"


class JobWorker:
    """What the import/export function runs jobs with, and where it trains the classifier.

    ``open_kb(retrain_large)`` builds the knowledge base (see
    :class:`knowledge.knowledge_base.KnowledgeBase`): when a job changes a big knowledge
    base, it asks for training, which :func:`lambda_handler` runs once the jobs are done
    and their statuses saved, in the same invocation (15 minutes; a training cut short never
    makes a finished import look failed). A small knowledge base trains inside the import.

    Example:
        >>> worker = JobWorker(lambda retrain: KnowledgeBase(store, embeddings,
        ...                                                  retrain_large=retrain),
        ...                    Settings.defaults)  # doctest: +SKIP
    """

    def __init__(self, open_kb: Callable[[Callable[[], None]], KnowledgeBase],
                 settings: Callable[[], Settings]):
        self.kb = open_kb(self.request_training)
        self.settings = settings
        self.training_requested = False

    def run(self, spec: JobSpec, tracker: Tracker, output_dir: Path) -> None:
        """Run one job with the settings current at its start (a :data:`Runner`)."""
        run_job(spec, tracker, self.kb, self.settings(), output_dir)

    def request_training(self) -> None:
        """Train the classifier after this invocation's jobs."""
        self.training_requested = True

    def train_if_requested(self) -> dict[str, Any]:
        """Train and save the classifier if asked to; ``{"classifier": outcome}`` or ``{}``."""
        if not self.training_requested:
            return {}
        self.training_requested = False
        started = time.perf_counter()
        self.kb.classifier.run_once()
        outcome: dict[str, Any] = {"seconds": round(time.perf_counter() - started, 3)}
        if self.kb.classifier.last_error:
            logger.error("%s", self.kb.classifier.last_error)
            outcome.update(state="failed", error=self.kb.classifier.last_error)
        else:
            model = self.kb.classifier.current()
            outcome.update(state="trained", items=len(model.qids) if model else 0)
        return {"classifier": outcome}


def default_worker() -> JobWorker:
    """Jobs on the configured knowledge base, with the settings current at each job's start."""
    from knowledge.backends import load_settings, open_knowledge_base, open_settings_repo

    home = Path(os.environ.get("QNABOT_HOME", "/tmp/qnabot"))
    repo = open_settings_repo(home)
    return JobWorker(lambda retrain: open_knowledge_base(home, retrain_large=retrain),
                     lambda: load_settings(repo))


class InvokeClassifierTraining:
    """Has the import/export function train the classifier: an asynchronous invocation with
    :data:`TRAIN_CLASSIFIER_EVENT`. The designer's knowledge base in AWS retrains this way
    after an edit (``retrain_large``): API Gateway waits 29 seconds, the function 15 minutes,
    and a Lambda process is frozen once it has answered, so a thread of its own never runs.

    Example:
        >>> InvokeClassifierTraining("qnabot-import-export")()  # doctest: +SKIP
    """

    def __init__(self, function_name: str, client: Any = None):
        self.function_name = function_name
        self._lambda = LazyClient("lambda", read_timeout=5, client=client)

    def __call__(self) -> None:
        """Queue the training (Lambda answers 202 at once; errors raise)."""
        self._lambda.get().invoke(FunctionName=self.function_name, InvocationType="Event",
                                  Payload=json.dumps(TRAIN_CLASSIFIER_EVENT).encode())


def lambda_handler(event: dict[str, Any], context: Any = None,
                   worker: JobWorker | None = None, client: Any = None) -> dict[str, Any]:
    """Entry point of the import/export function: run each job the event's objects start,
    and train the classifier when a job changed a big knowledge base or the event is
    :data:`TRAIN_CLASSIFIER_EVENT`."""
    worker = worker or default_worker()
    results = []
    for bucket, key, dropped_id in object_records(event):
        status = S3JobQueue(bucket, client).run_object(key, worker.run, dropped_id)
        if status is not None:
            results.append({"job": status.id, "state": status.state})
    if event.get("action") == TRAIN_CLASSIFIER_EVENT["action"]:
        worker.request_training()
    return {"jobs": results, **worker.train_if_requested()}
