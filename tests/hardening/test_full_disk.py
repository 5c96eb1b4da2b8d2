"""A full disk: turns keep answering while nothing can be written, and once space is back
every cache and the chat history are written again; nothing is left to delete by hand.

The disk is "filled" in a child process with ``RLIMIT_FSIZE`` at 0 (no file may grow; the
write fails as on a full disk), then "emptied" by raising the limit again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

resource = pytest.importorskip("resource")
ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import json, os, resource, signal, sqlite3, sys
    from pathlib import Path
    from knowledge.backends import open_knowledge_base
    from knowledge.importer import import_files
    from fulfillment.handler import lambda_handler
    from tests.fulfillment.lex_events import text_event

    home = Path(os.environ["QNABOT_HOME"])
    items = home.parent / "items.jsonl"
    items.write_text("\\n".join(json.dumps({"qid": f"Q.{n:03d}", "q": [f"question {n} about "
                     f"things"], "a": f"Answer {n}."}) for n in range(50)), "utf-8")
    kb = open_knowledge_base(home)
    import_files(kb, [items])
    kb.store.close()

    def answer(n, session):
        text = "a brand new question" if n == "x" else f"question {n} about things"
        event = text_event(text, session_id=session)
        return lambda_handler(event, None)["messages"][0]["content"]

    def history(session):
        with sqlite3.connect(home / "users.sqlite") as db:
            return db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] and sum(
                1 for row in db.execute("SELECT * FROM users") if session in str(row))

    result = {"before": answer(1, "s-before")}
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))
    result["full"] = [answer(n, "s-full") for n in (2, 3, 4)]
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    result["after"] = [answer(n, "s-after") for n in (5, 6, 7)]
    new = home.parent / "new.jsonl"
    new.write_text(json.dumps({"qid": "New.1", "q": ["a brand new question"], "a": "New."}))
    result["import_after"] = import_files(kb, [new]).stored
    result["new_answer"] = answer("x", "s-new")
    result["history_after"] = history("s-after")
    result["stray"] = [p.name for p in home.rglob("*") if p.name.endswith(".tmp")]
    print(json.dumps(result))
""")


def test_turns_answer_on_a_full_disk_and_everything_is_written_again_once_space_is_back(
        tmp_path):
    env = {**os.environ, "QNABOT_HOME": str(tmp_path / "home"), "EMBEDDINGS_API": "HASHING",
           "QNABOT_STORE": "embedded"}
    env.pop("SETTINGS_TABLE", None)
    env.pop("USERS_TABLE", None)
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["before"] == "Answer 1."
    assert outcome["full"] == ["Answer 2.", "Answer 3.", "Answer 4."]
    assert outcome["after"] == ["Answer 5.", "Answer 6.", "Answer 7."]
    assert outcome["history_after"] == 1  # the chat history is written again
    assert (outcome["import_after"], outcome["new_answer"]) == (1, "New.")
    assert outcome["stray"] == []
