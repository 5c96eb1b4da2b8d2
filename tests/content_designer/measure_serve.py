"""Measure ``qnabot serve``: the import rate through the API and the chat round trip.

Not a test (timings belong in benchmarks): run it by hand or from ``make bench``::

    .venv/bin/python -m tests.content_designer.measure_serve [FILE ...] [--turns 50]

It starts ``qnabot serve`` on a free port with an empty, temporary ``QNABOT_HOME`` and the
configured embeddings (the local model by default), uploads each file to ``POST /jobs/import``
and waits for the job, then asks the files' questions through ``POST /chat`` one after
another, and prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from content_designer.evaluation import labeled_from_json
from knowledge.importer import open_source
from tests.content_designer.conftest import multipart
from tests.content_designer.test_browser import ROOT, Server

DEFAULT_FILES = sorted((ROOT / "data" / "demo").glob("*.json"))


def call(server: Server, method: str, path: str, body: bytes | None = None,
         content_type: str = "application/json", token: bool = True) -> dict:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {server.token}"
    request = urllib.request.Request(server.url + path, data=body, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.load(response)


def measure_import(server: Server, path: Path) -> dict:
    body, content_type = multipart({}, {"file": (path.name, path.read_bytes())})
    started = time.perf_counter()
    job = call(server, "POST", "/jobs/import", body, content_type)
    while job["state"] in ("queued", "running"):
        time.sleep(0.1)
        job = call(server, "GET", f"/jobs/{job['id']}")
    wall = time.perf_counter() - started
    return {"file": path.name, "state": job["state"], **job["counts"],
            "job_seconds": job["seconds"], "wall_seconds": round(wall, 3),
            "items_per_second": round(job["counts"]["read"] / wall, 1)}


def measure_chat(server: Server, questions: list[str], turns: int) -> dict:
    """Ask ``turns`` questions, reworded so that none is in the embedding cache."""
    latencies = []
    for number in range(turns):
        body = json.dumps({"text": f"Please tell me: {questions[number % len(questions)]}",
                           "session_id": f"measure-{number % 5}"}).encode()
        started = time.perf_counter()
        call(server, "POST", "/chat", body, token=False)
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    return {"turns": turns, "median_ms": round(statistics.median(latencies), 1),
            "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
            "max_ms": round(latencies[-1], 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    parser.add_argument("--turns", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qnabot-measure-") as home:
        server = Server(Path(home))
        try:
            imports = [measure_import(server, path) for path in args.files]
            questions = [case.question for path in args.files
                         for raw in open_source(path).items()
                         for case in labeled_from_json(raw.value)]
            chat = measure_chat(server, questions or ["Hello"], args.turns)
        finally:
            server.stop()
    print(json.dumps({"imports": imports, "chat": chat}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
