"""Import, export and test-all jobs through S3 (moto), driven by real S3 event records."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

from content_designer.jobs import JobStatus
from content_designer.jobs_s3 import JobWorker, S3JobQueue, job_for_key, lambda_handler
from knowledge.embeddings.hashing import HashingEmbeddings
from knowledge.knowledge_base import KnowledgeBase
from knowledge.settings import Settings
from knowledge.stores.sqlite_store import SqliteStore
from tests.aws.conftest import BUCKET
from tests.shared_fixtures import FIXTURES


def s3_event(key: str, *, size: int = 1024, sequencer: str = "0065A1B2C3D4E5F601") -> dict:
    """The event S3 sends to Lambda for one PUT (keys URL-encoded, as S3 sends them)."""
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-21T05:00:00.123Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAEXAMPLE:designer"},
        "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810",
                             "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMU"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "qnabot-jobs",
               "bucket": {"name": BUCKET, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                          "arn": f"arn:aws:s3:::{BUCKET}"},
               "object": {"key": urllib.parse.quote_plus(key, safe="/"), "size": size,
                          "eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": sequencer}},
    }]}


@pytest.fixture
def kb(tmp_path):
    store = SqliteStore(tmp_path / "knowledge.sqlite")
    yield KnowledgeBase(store, HashingEmbeddings(64))
    store.close()


@pytest.fixture
def worker(kb):
    return JobWorker(lambda retrain: kb, Settings.defaults)


@pytest.fixture
def saved_states(monkeypatch):
    """Every state a status object was written with, in order."""
    states: list[tuple[str, int]] = []
    original = S3JobQueue.save

    def save(self, status):
        states.append((status.state, status.done))
        original(self, status)

    monkeypatch.setattr(S3JobQueue, "save", save)
    return states


def blog_samples() -> bytes:
    return (FIXTURES / "blog-samples-final.json").read_bytes()


def status_object(s3, job_id: str) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=f"status/{job_id}.json")["Body"].read())


def test_a_designer_upload_is_imported_and_its_status_counts_the_items(s3, kb, worker):
    queue = S3JobQueue(BUCKET, s3)
    job = queue.submit("import", upload=blog_samples(), filename="blog samples.json",
                       options={"replace_all": True})
    assert queue.status(job.id).state == "queued"
    key = f"imports/{job.id}/blog_samples.json"
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert json.loads(head["Metadata"]["qnabot-options"]) == {"replace_all": True}

    assert lambda_handler(s3_event(key), worker=worker, client=s3) == {
        "jobs": [{"job": job.id, "state": "succeeded"}]}

    status = status_object(s3, job.id)
    assert status["state"] == "succeeded" and status["progress"] == 1.0
    assert status["counts"] == {"read": 20, "stored": 20, "rejected": 0}
    assert status["filename"] == "blog samples.json"
    assert status["result"]["replace_all"] is True
    assert kb.store.count() == 20


def test_a_file_dropped_into_the_prefix_is_imported_under_its_own_job(s3, kb, worker):
    s3.put_object(Bucket=BUCKET, Key="imports/nursery rhymes.json",
                  Body=(FIXTURES / "TextPassage-NurseryRhymeExamples.json").read_bytes())

    [result] = lambda_handler(s3_event("imports/nursery rhymes.json"), worker=worker,
                              client=s3)["jobs"]

    assert result["state"] == "succeeded"
    status = S3JobQueue(BUCKET, s3).status(result["job"])
    assert status.filename == "nursery rhymes.json"
    assert status.counts["stored"] == 2
    assert kb.store.get("0.HumptyDumpty") is not None


def test_invalid_items_are_reported_and_the_valid_ones_stored(s3, kb, worker):
    s3.put_object(Bucket=BUCKET, Key="imports/mixed.json",
                  Body=(FIXTURES / "import-fail-expected.json").read_bytes())

    [result] = lambda_handler(s3_event("imports/mixed.json"), worker=worker, client=s3)["jobs"]

    status = S3JobQueue(BUCKET, s3).status(result["job"])
    assert status.state == "succeeded"
    assert status.counts["rejected"] == 5 and status.problem_count >= 5
    assert all(problem["file"] == "mixed.json" for problem in status.problems)


def test_an_unreadable_file_fails_the_job_and_changes_nothing(s3, kb, worker, saved_states):
    s3.put_object(Bucket=BUCKET, Key="imports/broken.json", Body=b'{"qna": [{"qid": "A.1", ')

    [result] = lambda_handler(s3_event("imports/broken.json"), worker=worker,
                              client=s3)["jobs"]

    assert result["state"] == "failed"
    status = S3JobQueue(BUCKET, s3).status(result["job"])
    assert "broken.json" in status.error
    assert kb.store.count() == 0
    assert "succeeded" not in [state for state, _ in saved_states]


def test_a_failing_import_is_never_shown_as_complete(s3, kb, worker, saved_states, monkeypatch):
    def embeddings_down(texts, input_type="q"):
        raise RuntimeError("Bedrock throttled the embeddings call")

    monkeypatch.setattr(kb.embeddings, "embed", embeddings_down)
    s3.put_object(Bucket=BUCKET, Key="imports/faq.json", Body=blog_samples())

    [result] = lambda_handler(s3_event("imports/faq.json"), worker=worker, client=s3)["jobs"]

    assert result["state"] == "failed"
    assert [state for state, _ in saved_states][:1] == ["running"]
    assert "succeeded" not in [state for state, _ in saved_states]
    assert "Bedrock throttled" in S3JobQueue(BUCKET, s3).status(result["job"]).error
    assert kb.store.count() == 0


def test_a_repeated_event_does_not_run_the_job_twice(s3, kb, worker, saved_states):
    s3.put_object(Bucket=BUCKET, Key="imports/faq.json", Body=blog_samples())
    event = s3_event("imports/faq.json")

    first = lambda_handler(event, worker=worker, client=s3)
    saved = len(saved_states)
    second = lambda_handler(event, worker=worker, client=s3)

    assert first["jobs"][0]["state"] == "succeeded"
    assert second == {"jobs": []}
    assert len(saved_states) == saved


def test_an_export_request_writes_the_file_beside_it_with_a_download_link(s3, kb, worker):
    queue = S3JobQueue(BUCKET, s3)
    job = queue.submit("import", upload=blog_samples(), filename="faq.json")
    lambda_handler(s3_event(f"imports/{job.id}/faq.json"), worker=worker, client=s3)
    export = queue.submit("export", options={"qid_filter": "Alexa", "prefix": True})

    [result] = lambda_handler(s3_event(f"exports/{export.id}/request.json"), worker=worker,
                              client=s3)["jobs"]

    assert result["state"] == "succeeded"
    body = json.loads(s3.get_object(Bucket=BUCKET,
                                    Key=f"exports/{export.id}/export.json")["Body"].read())
    assert [item["qid"] for item in body["qna"]] == ["Alexa.001", "Alexa.Cost"]
    assert queue.status(export.id).result["download"].endswith(f"{export.id}/export.json")
    assert queue.output_url(export.id).startswith(f"https://{BUCKET}.s3.amazonaws.com/")
    # the export file's own event starts nothing
    assert lambda_handler(s3_event(f"exports/{export.id}/export.json"), worker=worker,
                          client=s3) == {"jobs": []}


def test_a_job_cut_short_by_the_time_limit_reads_as_failed(s3):
    started = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
    queue = S3JobQueue(BUCKET, s3, now=lambda: started + timedelta(minutes=20))
    queue.save(JobStatus("import-20261121T050000-0123abcd", "import", state="running",
                         started=started.isoformat()))

    status = queue.status("import-20261121T050000-0123abcd")

    assert status.state == "failed" and "time limit" in status.error


def test_jobs_are_listed_newest_first(s3):
    queue = S3JobQueue(BUCKET, s3)
    for job_id in ("import-20261121T050000-0000000a", "export-20261121T060000-0000000b",
                   "import-20261120T050000-0000000c"):
        queue.save(JobStatus(job_id, job_id.split("-")[0]))
    assert [s.id for s in queue.list()] == ["export-20261121T060000-0000000b",
                                            "import-20261121T050000-0000000a",
                                            "import-20261120T050000-0000000c"]
    assert queue.status("../../etc/passwd") is None
    assert queue.status("import-20261121T050000-ffffffff") is None


@pytest.mark.parametrize("key", ["status/import-20261121T050000-0000000a.json",
                                 "exports/export-20261121T050000-0000000a/export.json",
                                 "imports/", "elsewhere/faq.json",
                                 "imports/not-a-job-id/faq.json"])
def test_objects_that_start_no_job_are_ignored(key):
    assert job_for_key(key, "import-20261121T050000-0000000a") is None
