"""Faults leave a clear state: a damaged knowledge base is refused on every path, a job whose
status cannot be saved ends failed, a damaged settings file is named, data files are private.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from cli.main import main
from content_designer.api import create_app
from content_designer.jobs import JobStatus, LocalJobQueue, Tracker
from content_designer.local_server import LocalApi
from knowledge.backends import open_knowledge_base
from knowledge.importer import import_files
from knowledge.store import StoreError
from tests.content_designer.conftest import ApiClient

DAMAGED = "is damaged"
FIX_OR_RESTORE = "Fix or restore it"


def write_jsonl(path: Path, count: int, prefix: str = "Q") -> Path:
    lines = (json.dumps({"qid": f"{prefix}.{n:05d}", "q": [f"question number {n} about things"],
                         "a": f"answer {n} " * 20}) for n in range(count))
    path.write_text("\n".join(lines), "utf-8")
    return path


@pytest.fixture
def damaged_home(home: Path) -> Path:
    """A home whose knowledge base has 64 KB of garbage in the middle of its file."""
    kb = open_knowledge_base(home)
    import_files(kb, [write_jsonl(home.parent / "items.jsonl", 3000)])
    # The import's classifier training reads on a connection of its own: closed mid-training,
    # the store leaves its pages in the WAL, which would hide the damage written below.
    kb.wait_for_classifier()
    kb.store.close()
    path = home / "knowledge.sqlite"
    with open(path, "r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        handle.write(bytes(range(256)) * 256)
    return home


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


def test_a_damaged_knowledge_base_is_refused_by_the_cli_with_the_fix_or_restore_message(
        damaged_home, capsys, tmp_path):
    new_items = write_jsonl(tmp_path / "new.jsonl", 1, prefix="New")
    for argv in (["info"], ["import", str(new_items)], ["search", "question number 7"]):
        code, printed = run_cli(capsys, *argv)
        assert code == 2, (argv, printed)
        assert DAMAGED in printed and FIX_OR_RESTORE in printed, (argv, printed)
        assert "Traceback" not in printed and "stored 1" not in printed


def test_a_write_into_a_damaged_knowledge_base_reports_no_success(damaged_home):
    kb = open_knowledge_base(damaged_home)
    with pytest.raises(StoreError, match=FIX_OR_RESTORE):
        import_files(kb, [write_jsonl(damaged_home.parent / "one.jsonl", 1, prefix="New")])
    with pytest.raises(StoreError, match=FIX_OR_RESTORE):  # and every read after it
        kb.store.count()


def test_the_api_refuses_reads_and_writes_of_a_damaged_knowledge_base_with_503(damaged_home,
                                                                              make_services):
    client = ApiClient(LocalApi(create_app(make_services())))
    item = {"qid": "New.1", "q": ["Is it damaged?"], "a": "Yes."}
    replies = [client.put("/items/New.1", item), client.get("/info"),
               client.post("/test", {"question": "question number 7"})]
    for reply in replies:
        assert reply.status == 503, reply.body
        assert FIX_OR_RESTORE in reply.json()["error"]


class FullDisk:
    """A status writer that fails like a full disk once ``full`` is set."""

    def __init__(self, queue: LocalJobQueue):
        self.write, self.full = queue._write, False

    def __call__(self, status: JobStatus) -> None:
        if self.full:
            raise OSError(28, "No space left on device")
        self.write(status)


def test_a_job_whose_final_status_cannot_be_written_ends_failed_saying_why(tmp_path):
    def runner(spec, tracker: Tracker, folder: Path) -> None:
        tracker.status.state = "running"
        tracker.flush()
        disk.full = True  # the disk fills up while the job runs
        tracker.status.state = "succeeded"
        tracker.flush()

    queue = LocalJobQueue(tmp_path, runner)
    disk = FullDisk(queue)
    queue._write = disk
    job = queue.submit("export", filename="x.json")

    status = queue.wait(job.id, timeout=30)
    queue.shutdown()

    assert status.state == "failed"
    assert "status could not be saved (No space left on device)" in status.error
    assert queue.status(job.id).state == "failed"  # never reported as succeeded meanwhile
    assert "Free some disk space" in status.error
    assert not list((tmp_path / "jobs").rglob("*.tmp"))  # no stray temporary files


def test_a_job_that_cannot_be_queued_on_a_full_disk_is_refused_and_leaves_nothing(tmp_path):
    queue = LocalJobQueue(tmp_path, lambda *args: None)
    queue._write = FullDisk(queue)
    queue._write.full = True

    with pytest.raises(StoreError, match="could not be queued: No space left.*Free some disk"):
        queue.submit("import", upload=b'{"qna": []}', filename="faq.json")
    queue.shutdown()

    assert list((tmp_path / "jobs").iterdir()) == []


@pytest.mark.parametrize("content", [b"\xff\xfe{\x00", b'{"EMBEDDINGS_SCORE_THRESHOLD": ',
                                     b'["not", "an", "object"]'])
def test_a_damaged_settings_file_is_named_by_the_api_and_the_cli(home, make_services, capsys,
                                                                 content):
    home.mkdir(parents=True, exist_ok=True)
    (home / "settings.json").write_bytes(content)
    client = ApiClient(LocalApi(create_app(make_services())))

    listed = client.get("/settings")
    saved = client.put("/settings", {"ENABLE_DEBUG_RESPONSES": True})
    code, printed = run_cli(capsys, "settings", "list")

    for reply in (listed, saved):
        assert reply.status == 503, reply.body
        assert "settings.json" in reply.json()["error"] and "qnabot settings reset" in reply.body
    assert code == 2 and "settings.json" in printed and "Traceback" not in printed
    assert (home / "settings.json").read_bytes() == content  # refused, not overwritten


def test_resetting_every_setting_repairs_a_damaged_settings_file(home, capsys):
    home.mkdir(parents=True)
    (home / "settings.json").write_bytes(b"\xff garbage")

    code, printed = run_cli(capsys, "settings", "reset")

    assert code == 0 and "every setting has its default" in printed
    assert run_cli(capsys, "settings", "list")[0] == 0


def test_data_files_are_created_readable_by_their_owner_only(home, make_services, capsys,
                                                           tmp_path):
    previous = os.umask(0o022)  # a typical umask that would make files world-readable
    try:
        assert run_cli(capsys, "import", str(write_jsonl(tmp_path / "a.jsonl", 3)))[0] == 0
        assert run_cli(capsys, "settings", "set", "ENABLE_DEBUG_RESPONSES", "true")[0] == 0
        services = make_services()
        client = ApiClient(LocalApi(create_app(services)))
        client.run_job(client.post("/jobs/export", {}), services)
    finally:
        os.umask(previous)

    files = [p for p in home.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"knowledge.sqlite", "settings.json", "status.json",
                                        "export.json"}
    loose = {str(p.relative_to(home)): oct(p.stat().st_mode & 0o777) for p in files
             if p.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)}
    assert loose == {}
