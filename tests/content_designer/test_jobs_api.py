"""Import, export and "test all" jobs through the admin API."""

from __future__ import annotations

import json

from content_designer.jobs import JobStatus, LocalJobQueue
from tests.content_designer.conftest import fixture_bytes


def jsonl(*items: dict) -> bytes:
    return "\n".join(json.dumps(item) for item in items).encode()


def test_import_job_reports_counts_progress_timing_and_rate(client, services):
    status = client.run_job(client.upload("/jobs/import", "blog.json",
                                          fixture_bytes("blog-samples-final.json")), services)
    assert status["state"] == "succeeded"
    assert status["counts"] == {"read": 20, "stored": 20, "rejected": 0}
    assert status["progress"] == 1.0
    assert status["total"] == 20 and status["done"] == 20
    assert status["seconds"] > 0 and status["result"]["items_per_second"] > 0
    assert status["filename"] == "blog.json"
    assert client.get("/items").json()["total"] == 20


def test_import_job_stores_valid_items_and_lists_each_rejected_one(client, services):
    status = client.run_job(client.upload("/jobs/import", "fail.json",
                                          fixture_bytes("import-fail-expected.json")), services)
    assert status["state"] == "succeeded"
    assert status["counts"]["rejected"] == 5 and status["counts"]["stored"] == 0
    problems = status["problems"]
    assert {p["position"] for p in problems} == {1, 2, 3, 4, 5}
    assert all(p["file"] == "fail.json" and p["field"] and p["message"] for p in problems)


def test_import_job_reads_json_lines_with_line_numbers(client, services):
    body = jsonl({"qid": "A.1", "q": ["One?"], "a": "1"}, {"qid": "A.2", "q": [], "a": "2"})
    status = client.run_job(client.upload("/jobs/import", "items.jsonl", body), services)
    assert status["counts"] == {"read": 2, "stored": 1, "rejected": 1}
    assert status["problems"][0]["line"] == 2


def test_a_broken_file_fails_the_job_naming_the_upload_and_changes_nothing(loaded, services):
    status = loaded.run_job(loaded.upload("/jobs/import", "cut.json", b'{"qna": [{"qid": "X'),
                            services)
    assert status["state"] == "failed"
    assert "cut.json" in status["error"] and "truncated" in status["error"]
    assert "/jobs/" not in status["error"]  # the server's temporary path is not shown
    assert loaded.get("/items").json()["total"] == 22


def test_replace_all_leaves_exactly_the_uploaded_items(loaded, services):
    body = jsonl({"qid": "Only.1", "q": ["Only?"], "a": "Yes"})
    loaded.run_job(loaded.upload("/jobs/import", "one.jsonl", body, replace_all="true"), services)
    assert [i["qid"] for i in loaded.get("/items").json()["items"]] == ["Only.1"]


def test_import_needs_a_file(client):
    reply = client.post("/jobs/import", {"replace_all": True})
    assert reply.status == 422


def test_export_job_gives_a_downloadable_qnabot_file(loaded, services):
    status = loaded.run_job(loaded.post("/jobs/export", {"qid_filter": "Alexa"}), services)
    assert status["state"] == "succeeded" and status["counts"] == {"exported": 2}
    assert not status["result"]["download"].startswith("/")  # relative: works under /prod/
    download = loaded.get("/" + status["result"]["download"])
    assert download.status == 200
    assert "attachment" in download.headers["content-disposition"]
    assert [i["qid"] for i in json.loads(download.body)["qna"]] == ["Alexa.001", "Alexa.Cost"]


def test_download_of_an_unknown_or_unfinished_job_is_404(loaded, services):
    status = loaded.run_job(loaded.post("/jobs/test-all"), services)
    assert loaded.get(f"/jobs/{status['id']}/download").status == 404
    assert loaded.get("/jobs/export-20990101T000000-00000000/download").status == 404
    assert loaded.get("/jobs/..%2F..%2Fadmin-token").status == 404


def test_test_all_reports_which_questions_find_their_own_qid(loaded, services):
    status = loaded.run_job(loaded.post("/jobs/test-all"), services)
    counts = status["counts"]
    assert counts["asked"] == 26  # every question of every QnA item
    assert counts["correct"] + counts["ambiguous"] + counts["missed"] == counts["asked"]
    outcomes = status["result"]["outcomes"]
    assert len(outcomes) == 26
    # Two items of two topics ask "How much does it cost?": whichever wins, the question is
    # expected ambiguity, not a miss.
    shared = [o for o in outcomes if o["question"] == "How much does it cost?"]
    assert {o["status"] for o in shared} == {"correct", "ambiguous"}
    assert all(o["shared_with"] for o in shared)


def test_test_all_takes_a_topic_and_the_report_downloads_as_csv(loaded, services):
    status = loaded.run_job(loaded.post("/jobs/test-all", {"topic": "EchoShow"}), services)
    assert 0 < status["counts"]["asked"] < 26
    report = loaded.get(f"/jobs/{status['id']}/report")
    assert report.status == 200 and report.headers["content-type"].startswith("text/csv")
    lines = report.body.splitlines()
    assert lines[0].startswith("status,question,expected_qid,found_qid")
    assert len(lines) == status["counts"]["asked"] + 1
    assert loaded.get("/jobs/nope/report").status == 404


def test_test_all_with_a_labeled_file_asks_its_questions(loaded, services):
    body = jsonl({"question": "What is Amazon Fire TV?", "qid": "FireTV.001"},
                 {"question": "What is Amazon Fire TV?", "qid": "Alexa.001"})
    status = loaded.run_job(loaded.upload("/jobs/test-all/upload", "labels.jsonl", body),
                            services)
    assert status["counts"] == {"asked": 2, "correct": 1, "ambiguous": 0, "missed": 1}


def test_jobs_are_listed_newest_first_and_filtered_by_kind(loaded, services):
    loaded.run_job(loaded.post("/jobs/export", {}), services)
    jobs = loaded.get("/jobs").json()["jobs"]
    assert jobs[0]["kind"] == "export"
    assert {j["kind"] for j in loaded.get("/jobs?kind=import").json()["jobs"]} == {"import"}


def test_jobs_cut_short_by_a_restart_are_marked_failed_with_a_hint(home):
    queue = LocalJobQueue(home, runner=lambda spec, tracker, out: None)
    running = JobStatus("import-20260101T000000-0000abcd", "import", state="running")
    (queue.root / running.id).mkdir()
    queue._save(running)
    queue.shutdown()
    restarted = LocalJobQueue(home, runner=lambda spec, tracker, out: None)
    status = restarted.status(running.id)
    assert status.state == "failed" and "Run it again" in status.error
    restarted.shutdown()


def test_unknown_job_ids_are_404(client):
    assert client.get("/jobs/import-20990101T000000-deadbeef").status == 404
    assert client.get("/jobs/not-a-job").status == 404


def succeed(spec, tracker, output_dir) -> None:
    """A stand-in job that finishes at once."""
    tracker.status.state = "succeeded"
    tracker.flush()


def test_only_the_newest_jobs_are_kept(home, monkeypatch):
    monkeypatch.setattr("content_designer.jobs.MAX_KEPT_JOBS", 3)
    queue = LocalJobQueue(home, runner=succeed)
    jobs = []
    for _ in range(5):
        jobs.append(queue.submit("export"))
        queue.wait(jobs[-1].id)
    queue.shutdown()
    kept = [status.id for status in queue.list()]
    assert len(kept) <= 4 and jobs[-1].id in kept and jobs[0].id not in kept


def test_tune_job_recommends_settings_and_gives_the_chart(loaded, services):
    body = b"\n".join(json.dumps(line).encode() for line in [
        {"id": "c1", "turns": [{"q": "What is Amazon Fire TV?", "expect": {"qid": "FireTV.001"}}]},
        {"id": "c2", "turns": [{"q": "Capital of Peru?", "expect": {"no_answer": True}}]}])
    status = loaded.run_job(loaded.upload("/jobs/tune", "labeled.jsonl", body,
                                          max_wrong_rate="0.1"), services)
    assert status["state"] == "succeeded", status["error"]
    result = status["result"]
    assert result["max_wrong_rate"] == 0.1
    assert "EMBEDDINGS_SCORE_THRESHOLD" in result["recommended"]["settings"]
    assert result["chart"]["points"] and len(result["chart"]["current"]) == 2
    assert status["counts"]["turns"] == 2 and status["progress"] == 1


def test_tune_refuses_a_file_that_is_not_labeled_conversations(loaded, services):
    status = loaded.run_job(loaded.upload("/jobs/tune", "items.json", b'{"qna": []}'), services)
    assert status["state"] == "failed" and "items.json" in status["error"]
