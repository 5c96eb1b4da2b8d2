"""A bounded soak test: ``qnabot serve`` under concurrent chat sessions while imports run.

Starts ``qnabot serve`` on a free 127.0.0.1 port with a fresh ``QNABOT_HOME`` and the demo
content (``data/demo/*.json``), then for ``--seconds`` seconds:

* ``--sessions`` threads each hold multi-turn conversations drawn from ``data/eval/dev.jsonl``
  through ``POST /chat`` (a new session per conversation, its turns in order);
* one admin thread keeps importing through the admin API (``POST /jobs/import``, alternating
  the demo file, which the embedding cache serves, and a small file of new items) and edits
  one item (``PUT /items/<qid>``), checking after each job that it succeeded.

Every loop stops by itself at the deadline (a turn or job started just before it finishes).
The server's resident memory is sampled every few seconds; the report gives its least-squares
slope over the second half of the run (after warm-up), which must stay under
:data:`MAX_SLOPE_MB_PER_MINUTE` for runs of two minutes or more ("memory flat").
The report gives the chat requests, errors, latency percentiles and the admin work done. An
error is any request that fails or times out, a non-200 reply, a reply that is not a Lex
response, or an answer that is the bot's error message (the handler never fails outright, so
that is how a failed turn shows). At the end every item written must be served whole.

Exit status: 0 when there was no error and memory stayed flat, 1 otherwise.

Usage::

    .venv/bin/python -m bench.soak [--sessions 20] [--seconds 60] [--json]
    make soak            # 20 sessions for 10 minutes

The environment passes through to the server (``EMBEDDINGS_API=HASHING`` starts faster;
the default is the local model, as ``make run`` uses).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowledge.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEMO_FOLDER = ROOT / "data" / "demo"
DIALOGUES = ROOT / "data" / "eval" / "dev.jsonl"
#: Longest wait for one HTTP request; Lex itself gives a turn 30 s.
REQUEST_TIMEOUT_S = 30.0
#: Longest wait for the server to start (the demo import embeds ~190 items on first start).
STARTUP_TIMEOUT_S = 300.0
#: Longest wait for one import job to finish once submitted.
JOB_TIMEOUT_S = 120.0
#: Items in each generated import file (new text, so they are embedded afresh).
NEW_ITEMS_PER_IMPORT = 5
#: Import rounds whose qids differ; later rounds replace earlier items (see new_items).
NEW_QID_POOL = 40
EDITED_QID = "Soak.Edited"
#: Seconds between two samples of the server's memory.
MEMORY_SAMPLE_S = 5.0
#: Memory growth over the second half of a run that still counts as flat.
MAX_SLOPE_MB_PER_MINUTE = 2.0
#: Runs shorter than this are mostly warm-up: their slope is reported, not judged.
JUDGED_SECONDS = 120.0
#: What a turn that failed answers (the handler never fails outright).
ERROR_MESSAGE = Settings.defaults().get("ERRORMESSAGE")


# --- the server ---------------------------------------------------------------------------


class Server:
    """``qnabot serve --load-demo`` in a subprocess; URL and token read from what it prints."""

    def __init__(self, home: Path, env: dict[str, str] | None = None):
        self.output: list[str] = []
        self._printed = threading.Condition()
        environment = {**os.environ, **(env or {}), "QNABOT_HOME": str(home),
                       "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", "0",
             "--load-demo"],
            cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._wait_for(r"QnABot is serving (\S+)")
        self.token = self._wait_for(r"admin token .*: (\S+)$")

    def _read(self) -> None:
        for line in self.process.stdout:
            with self._printed:
                self.output.append(line.rstrip("\n"))
                self._printed.notify_all()
        with self._printed:
            self._printed.notify_all()

    def _wait_for(self, pattern: str) -> str:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        with self._printed:
            while True:
                for line in self.output:
                    match = re.search(pattern, line)
                    if match:
                        return match.group(1)
                if self.process.poll() is not None:
                    raise RuntimeError("qnabot serve exited:\n" + "\n".join(self.output[-30:]))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("qnabot serve did not start within "
                                       f"{STARTUP_TIMEOUT_S:.0f} s:\n" + "\n".join(self.output))
                self._printed.wait(min(left, 1.0))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def request(server: Server, method: str, path: str, *, body: Any = None, raw: bytes | None = None,
            content_type: str = "application/json", admin: bool = False) -> tuple[int, Any]:
    """(status, parsed JSON body) of one HTTP request; raises OSError for network failures."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": content_type} if data is not None else {}
    if admin:
        headers["Authorization"] = f"Bearer {server.token}"
    call = urllib.request.Request(server.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(call, timeout=REQUEST_TIMEOUT_S) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()
    try:
        return status, json.loads(text or b"null")
    except ValueError:
        return status, text.decode("utf-8", "replace")


def multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one file, as a browser sends it."""
    boundary = "soak" + secrets.token_hex(8)
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: application/json\r\n\r\n').encode()
    return body + content + f"\r\n--{boundary}--\r\n".encode(), \
        f"multipart/form-data; boundary={boundary}"


# --- the load -----------------------------------------------------------------------------


def load_dialogues(path: Path = DIALOGUES) -> list[list[str]]:
    """The questions of each conversation of the labeled set, in order."""
    dialogues = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            turns = [turn["q"] for turn in json.loads(line)["turns"] if turn.get("q")]
            if turns:
                dialogues.append(turns)
    return dialogues


@dataclass
class Tally:
    """What the threads did, collected under one lock."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    conversations: int = 0
    imports: int = 0
    import_items: int = 0
    edits: int = 0
    admin_errors: list[str] = field(default_factory=list)
    new_qids: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def turn(self, latency_ms: float, problem: str = "") -> None:
        with self.lock:
            self.latencies_ms.append(latency_ms)
            if problem:
                self.errors.append(problem)


def turn_problem(status: int, reply: Any) -> str:
    """Why a chat reply is an error ('' when it is a proper answer)."""
    if status != 200:
        return f"HTTP {status}: {str(reply)[:200]}"
    if not isinstance(reply, dict) or not reply.get("messages"):
        return f"not a Lex response: {str(reply)[:200]}"
    state = (reply.get("sessionState") or {}).get("dialogAction") or {}
    if state.get("type") != "Close":
        return f"dialog action is {state!r}, not Close"
    first = reply["messages"][0].get("content", "")
    if first.strip() == ERROR_MESSAGE:
        return "the turn answered with the error message"
    return ""


def chat_session(server: Server, dialogues: list[list[str]], number: int, deadline: float,
                 tally: Tally) -> None:
    """Hold conversations until the deadline; each turn's latency and outcome go to ``tally``."""
    chooser = random.Random(number)
    conversation = 0
    while time.monotonic() < deadline:
        conversation += 1
        session_id = f"soak-{number}-{conversation}"
        for question in chooser.choice(dialogues):
            if time.monotonic() >= deadline:
                break
            started = time.perf_counter()
            try:
                status, reply = request(server, "POST", "/chat",
                                        body={"text": question, "session_id": session_id})
                problem = turn_problem(status, reply)
            except OSError as exc:
                problem = f"request failed: {exc}"
            tally.turn((time.perf_counter() - started) * 1000,
                       f"{session_id} {question!r}: {problem}" if problem else "")
        with tally.lock:
            tally.conversations += 1


def new_items(round_number: int) -> list[dict[str, Any]]:
    """A few items with text not seen before (so the import embeds them), under qids taken in
    turn from a pool of :data:`NEW_QID_POOL`: the knowledge base stops growing once the pool is
    used, so memory that still grows is a leak, not more data."""
    slot = round_number % NEW_QID_POOL
    return [{"qid": f"Soak.{slot:04d}.{n}",
             "q": [f"What is soak test fact number {round_number} {n}?"],
             "a": f"Soak fact {round_number}.{n}: the bot kept answering while this imported.",
             "t": "Soak"} for n in range(NEW_ITEMS_PER_IMPORT)]


def run_import(server: Server, filename: str, content: bytes) -> str:
    """Import one file through the admin API and wait for its job; '' or what went wrong."""
    body, content_type = multipart(filename, content)
    status, job = request(server, "POST", "/jobs/import", raw=body, content_type=content_type,
                          admin=True)
    if status != 202:
        return f"import of {filename} refused: HTTP {status} {str(job)[:200]}"
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        status, job = request(server, "GET", f"/jobs/{job['id']}", admin=True)
        if status == 200 and job["state"] in ("succeeded", "failed"):
            if job["state"] == "failed" or job["counts"].get("rejected"):
                return f"import of {filename} {job['state']}: {job.get('error')}"
            return ""
        time.sleep(0.1)  # polling a job's status file, not synchronising the test
    return f"import of {filename} did not finish within {JOB_TIMEOUT_S:.0f} s"


def admin_work(server: Server, deadline: float, tally: Tally) -> None:
    """Imports (the demo file and new items, in turn) and an item edit until the deadline."""
    demo = sorted(DEMO_FOLDER.glob("*.json"))
    round_number = 0
    while time.monotonic() < deadline:
        round_number += 1
        if round_number % 2:
            path = demo[(round_number // 2) % len(demo)]
            filename, content, qids = path.name, path.read_bytes(), set()
        else:
            items = new_items(round_number)
            filename, qids = f"soak-{round_number}.json", {i["qid"] for i in items}
            content = json.dumps({"qna": items}).encode()
        problem = run_import(server, filename, content)
        edit = {"qid": EDITED_QID, "q": ["What is the soak edit counter?"],
                "a": f"The soak edit counter is {round_number}."}
        try:
            status, reply = request(server, "PUT", f"/items/{EDITED_QID}", body=edit, admin=True)
        except OSError as exc:
            status, reply = 0, str(exc)
        with tally.lock:
            tally.imports += 1
            tally.import_items += len(qids)
            if problem:
                tally.admin_errors.append(problem)
            else:
                tally.new_qids |= qids
            if status in (200, 201):
                tally.edits += 1
                tally.new_qids.add(EDITED_QID)
            else:
                tally.admin_errors.append(f"edit refused: HTTP {status} {str(reply)[:200]}")


def check_items(server: Server, qids: set[str]) -> list[str]:
    """Problems with the items the soak wrote: each must be served whole."""
    problems = []
    for qid in sorted(qids):
        status, item = request(server, "GET", f"/items/{qid}", admin=True)
        if status != 200:
            problems.append(f"item {qid} lost: HTTP {status}")
        elif not (item.get("q") and item.get("a")):
            problems.append(f"item {qid} served incomplete: {item}")
    return problems


# --- the report ---------------------------------------------------------------------------


def resident_mb(pid: int) -> float | None:
    """The resident memory of process ``pid`` in MB (Linux ``/proc``; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def sample_memory(pid: int, deadline: float, samples: list[tuple[float, float]]) -> None:
    """Append (seconds since start, resident MB) every :data:`MEMORY_SAMPLE_S` until deadline."""
    began = time.monotonic()
    while time.monotonic() < deadline:
        mb = resident_mb(pid)
        if mb is not None:
            samples.append((time.monotonic() - began, mb))
        time.sleep(MEMORY_SAMPLE_S)


def slope_mb_per_minute(samples: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of the second half of ``samples``, in MB per minute."""
    half = samples[len(samples) // 2:]
    if len(half) < 3:
        return None
    mean_t = sum(t for t, _ in half) / len(half)
    mean_m = sum(m for _, m in half) / len(half)
    spread = sum((t - mean_t) ** 2 for t, _ in half)
    if spread == 0:
        return None
    return 60 * sum((t - mean_t) * (m - mean_m) for t, m in half) / spread


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` lie (nearest rank); 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered))))
    return ordered[rank - 1]


def soak(sessions: int, seconds: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the soak and return its report (see the module docstring)."""
    dialogues = load_dialogues()
    with tempfile.TemporaryDirectory(prefix="qnabot-soak-") as home:
        started_server = time.perf_counter()
        server = Server(Path(home), env)
        try:
            startup_s = time.perf_counter() - started_server
            tally = Tally()
            began = time.monotonic()
            deadline = began + seconds
            threads = [threading.Thread(target=chat_session, name=f"session-{n}",
                                        args=(server, dialogues, n, deadline, tally))
                       for n in range(sessions)]
            threads.append(threading.Thread(target=admin_work, name="admin",
                                            args=(server, deadline, tally)))
            memory: list[tuple[float, float]] = []
            sampler = threading.Thread(target=sample_memory, daemon=True,
                                       args=(server.process.pid, deadline, memory))
            sampler.start()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(seconds + JOB_TIMEOUT_S + REQUEST_TIMEOUT_S)
            stuck = [t.name for t in threads if t.is_alive()]
            elapsed = time.monotonic() - began
            lost = check_items(server, tally.new_qids)
            status, health = request(server, "GET", "/health")
        finally:
            server.stop()
    latencies = tally.latencies_ms
    admin_errors = tally.admin_errors + lost + [f"thread {name} did not stop" for name in stuck]
    if status != 200:
        admin_errors.append(f"the server is unhealthy after the soak: HTTP {status} {health}")
    slope = slope_mb_per_minute(memory)
    flat = slope is None or seconds < JUDGED_SECONDS or slope <= MAX_SLOPE_MB_PER_MINUTE
    return {
        "sessions": sessions,
        "seconds": round(elapsed, 1),
        "startup_seconds": round(startup_s, 1),
        "requests": len(latencies),
        "errors": len(tally.errors),
        "error_samples": tally.errors[:10],
        "conversations": tally.conversations,
        "requests_per_second": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "latency_ms": {"p50": round(percentile(latencies, 0.50), 1),
                       "p95": round(percentile(latencies, 0.95), 1),
                       "p99": round(percentile(latencies, 0.99), 1),
                       "max": round(max(latencies, default=0.0), 1)},
        "imports": tally.imports,
        "imported_new_items": tally.import_items,
        "edits": tally.edits,
        "admin_errors": admin_errors,
        "memory_mb": {"first": round(memory[0][1], 1) if memory else None,
                      "last": round(memory[-1][1], 1) if memory else None,
                      "max": round(max(m for _, m in memory), 1) if memory else None,
                      "samples": len(memory),
                      "slope_mb_per_minute": None if slope is None else round(slope, 3),
                      "flat": flat},
    }


def summary_lines(report: dict[str, Any]) -> Iterator[str]:
    latency = report["latency_ms"]
    yield (f"soak: {report['sessions']} sessions for {report['seconds']} s "
           f"(server started in {report['startup_seconds']} s)")
    yield (f"  chat: {report['requests']} requests in {report['conversations']} conversations, "
           f"{report['requests_per_second']}/s, {report['errors']} errors")
    yield (f"  latency ms: p50 {latency['p50']}, p95 {latency['p95']}, p99 {latency['p99']}, "
           f"max {latency['max']}")
    yield (f"  admin: {report['imports']} imports ({report['imported_new_items']} new items), "
           f"{report['edits']} edits, {len(report['admin_errors'])} errors")
    memory = report["memory_mb"]
    if memory["samples"]:
        yield (f"  server memory MB: {memory['first']} -> {memory['last']} (max {memory['max']}),"
               f" slope over the second half {memory['slope_mb_per_minute']} MB/min"
               f" ({'flat' if memory['flat'] else 'GROWING'})")
    for problem in report["error_samples"] + report["admin_errors"][:10]:
        yield f"  ! {problem}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20, help="concurrent chat sessions")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load runs")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.seconds <= 0:
        parser.error("--sessions must be at least 1 and --seconds more than 0")
    report = soak(args.sessions, args.seconds)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(summary_lines(report)))
    ok = report["errors"] == 0 and not report["admin_errors"] and report["memory_mb"]["flat"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
