"""An import killed mid-way with SIGKILL, in a real ``qnabot import`` process, leaves the
knowledge base exactly as it was before that import, and simply running it again works.

The child is the real command line with one change: the embeddings model stops after a few
batches (so the kill lands mid-transaction, deterministically) and says so on stdout. Nothing
in the import gets a chance to clean up: no rollback, no close, no ``finally``.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Generous limit so that a broken implementation fails instead of hanging the suite.
DEADLINE_S = 120

#: The real CLI, whose embeddings stop at their Nth call until killed.
PAUSING_CLI = textwrap.dedent("""
    import sys, threading
    from knowledge.embeddings.hashing import HashingEmbeddings

    stop_at = int(sys.argv[1])
    calls = 0
    real_embed = HashingEmbeddings.embed

    def embed(self, texts, input_type="q"):
        global calls
        calls += 1
        if calls == stop_at:
            print("MIDWAY", flush=True)
            threading.Event().wait()  # until SIGKILL
        return real_embed(self, texts, input_type)

    HashingEmbeddings.embed = embed
    from cli.main import main
    sys.exit(main(sys.argv[2:]))
""")


def qnabot(home: Path, *args: str, code: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "QNABOT_HOME": str(home), "EMBEDDINGS_API": "HASHING",
           "PYTHONUNBUFFERED": "1"}
    env.pop("QNABOT_STORE", None)
    command = [sys.executable, "-c", code, *args] if code else \
        [sys.executable, "-m", "cli.main", *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def run(home: Path, *args: str) -> subprocess.CompletedProcess:
    process = qnabot(home, *args)
    out, err = process.communicate(timeout=DEADLINE_S)
    return subprocess.CompletedProcess(args, process.returncode, out, err)


def wait_for_line(process: subprocess.Popen, expected: str) -> None:
    """Block until the child prints ``expected`` (or fail at the deadline)."""
    seen, printed = [], threading.Event()

    def read() -> None:
        for line in process.stdout:
            seen.append(line.strip())
            if line.strip() == expected:
                printed.set()
                return
        printed.set()

    threading.Thread(target=read, daemon=True).start()
    assert printed.wait(DEADLINE_S), f"the child never printed {expected}: {seen}"
    assert expected in seen, f"the child ended without printing {expected}: {seen} " \
                             f"{process.stderr.read()}"


def write_export(path: Path, items: list[dict]) -> Path:
    path.write_text(json.dumps({"qna": items}, indent=1), "utf-8")
    return path


def items(prefix: str, count: int, answer: str) -> list[dict]:
    return [{"qid": f"{prefix}.{n:05d}", "q": [f"{prefix} question number {n}"],
             "a": f"{answer} {n}"} for n in range(count)]


def knowledge_base(home: Path) -> list[tuple[str, str]]:
    """(qid, answer) of every item, read straight from the file, plus an integrity check."""
    with sqlite3.connect(home / "knowledge.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = conn.execute("SELECT qid, json FROM items ORDER BY qid").fetchall()
    return [(qid, json.loads(data)["a"]) for qid, data in rows]


@pytest.mark.parametrize("replace_all", [False, True], ids=["upsert", "replace-all"])
def test_an_import_killed_midway_leaves_the_knowledge_base_as_before_and_can_be_rerun(
        tmp_path, replace_all):
    home = tmp_path / "home"
    old = write_export(tmp_path / "old.json", items("Old", 300, "old answer"))
    assert run(home, "import", str(old)).returncode == 0
    before = knowledge_base(home)
    # Half the qids exist already (their answers change), half are new.
    new = write_export(tmp_path / "new.json", items("Old", 300, "new answer")[150:] +
                       items("New", 1500, "new answer"))
    flags = ["--replace-all"] if replace_all else []

    # Embedding calls: questions then answers per batch of 256; the 5th is the third batch,
    # so two batches (512 items, updates and inserts) are already in the open transaction.
    child = qnabot(home, "5", "import", str(new), *flags, code=PAUSING_CLI)
    try:
        wait_for_line(child, "MIDWAY")
        assert (home / "knowledge.sqlite-wal").exists()
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=DEADLINE_S) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
        child.stderr.close()

    assert knowledge_base(home) == before

    again = run(home, "import", str(new), *flags)
    assert again.returncode == 0, again.stderr
    assert "stored 1650" in again.stdout
    after = dict(knowledge_base(home))
    assert len(after) == (1650 if replace_all else 1800)
    assert after["Old.00299"] == "new answer 299" and after["New.01499"] == "new answer 1499"
    assert after.get("Old.00149") == (None if replace_all else "old answer 149")
