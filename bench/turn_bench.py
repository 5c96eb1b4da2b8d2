"""Per-turn latency of the fulfillment handler without an LLM, and its cold start.

Loads the public fixtures into a fresh ``QNABOT_HOME`` with the real local embeddings model,
then measures:

* **warm**: in-process ``lambda_handler`` calls over the fixture questions (every question of
  every item plus the tutorial's questions, each round with another opening so that every
  query is embedded afresh), after one warm-up turn: median and p95 in ms;
* **cold start**: fresh Python processes that import ``fulfillment.handler`` and answer one
  question (what a new Lambda container does): import ms, first answer ms, total.

Usage::

    .venv/bin/python -m bench.turn_bench [--rounds 5] [--cold-runs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"
FIXTURE_FILES = ("blog-samples-final.json", "TextPassage-NurseryRhymeExamples.json")
TUTORIAL_QUESTIONS = (
    "Tell me about the Alexa device with the screen",
    "Tell me about Amazon's video streaming device?",
    "Where did Humpty Dumpty sit before he fell?",
    "What happened after he fell? Was he OK?",
    "What is the capital of Peru?",
)

#: Each round asks every question with another opening, so no query embedding comes from the
#: embedding cache (the items' own questions are in it since the import).
OPENINGS = ("", "Please tell me: ", "Quick question: ", "I wonder, ", "Can you help? ",
            "Hi! ", "Hello, ", "One more thing: ", "Sorry to bother you, ", "OK so ")

COLD_CHILD = """
import json, sys, time
started, cpu_started = time.perf_counter(), time.process_time()
from fulfillment.handler import lambda_handler
imported = time.perf_counter()
from fulfillment.lex_event import make_event
response = lambda_handler(make_event(sys.argv[1], session_id="cold"), None)
answered, cpu = time.perf_counter(), time.process_time() - cpu_started
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM:"))
print(json.dumps({"import_ms": (imported - started) * 1000,
                  "first_answer_ms": (answered - imported) * 1000,
                  "cpu_ms": cpu * 1000, "peak_rss_mb": peak_kb / 1024,
                  "qid": response["sessionState"]["sessionAttributes"]["qnabot_qid"]}))
"""


def percentile(values: list[float], share: float) -> float:
    """The ``share`` percentile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def load_fixtures(home: Path) -> list[str]:
    """Import the fixtures into ``home``; return every question to ask."""
    from knowledge.backends import open_knowledge_base
    from knowledge.importer import import_files

    kb = open_knowledge_base(home)
    import_files(kb, [FIXTURES / name for name in FIXTURE_FILES])
    questions = [q for item in kb.store.iter_items() for q in item.questions]
    kb.close()
    return questions + list(TUTORIAL_QUESTIONS)


def warm(questions: list[str], rounds: int) -> dict:
    """Median and p95 of in-process turns, and the median search time within them."""
    from fulfillment import handler
    from fulfillment.lex_event import make_event

    for log_handler in handler.logger.handlers:  # keep the JSON logging cost, not the noise
        if isinstance(log_handler, logging.StreamHandler):
            log_handler.stream = open(os.devnull, "w")  # noqa: SIM115
    handler.set_service(None)
    handler.warm_up()
    turns, searches = [], []
    for round_number in range(rounds):
        opening = OPENINGS[(round_number + 1) % len(OPENINGS)]
        for n, question in enumerate(questions):
            event = make_event(opening + question, session_id=f"bench-{round_number}-{n}")
            started = time.perf_counter()
            outcome = handler.handle_event(event)
            turns.append((time.perf_counter() - started) * 1000)
            searches.append(outcome.turn.debug.timings_ms.get("search", 0.0))
    return {"turns": len(turns), "median_ms": statistics.median(turns),
            "p95_ms": percentile(turns, 0.95), "max_ms": max(turns),
            "search_median_ms": statistics.median(searches)}


def cold(home: Path, runs: int) -> dict:
    """Fresh processes: import of the handler, then the first answer."""
    results = []
    env = {**os.environ, "QNABOT_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", COLD_CHILD, TUTORIAL_QUESTIONS[0]],
                             cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    imports = [r["import_ms"] for r in results]
    firsts = [r["first_answer_ms"] for r in results]
    totals = [a + b for a, b in zip(imports, firsts, strict=True)]
    return {"runs": runs, "import_ms": statistics.median(imports),
            "first_answer_ms": statistics.median(firsts), "total_ms": statistics.median(totals),
            "cpu_ms": statistics.median(r["cpu_ms"] for r in results),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
            "qid": results[-1]["qid"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="passes over the questions")
    parser.add_argument("--cold-runs", type=int, default=3, help="fresh processes to start")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    for name in ("EMBEDDINGS_API", "LLM_API", "USERS_TABLE", "SETTINGS_TABLE", "QNABOT_STORE"):
        os.environ.pop(name, None)
    with tempfile.TemporaryDirectory(prefix="turn-bench-") as folder:
        home = Path(folder)
        os.environ["QNABOT_HOME"] = str(home)
        questions = load_fixtures(home)
        cold_result = cold(home, args.cold_runs)
        warm_result = warm(questions, args.rounds)
    report = {"warm": warm_result, "cold_start": cold_result, "questions": len(questions)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"warm turns (no LLM, real local model, {warm_result['turns']} turns over "
              f"{len(questions)} fixture questions): median {warm_result['median_ms']:.1f} ms, "
              f"p95 {warm_result['p95_ms']:.1f} ms, max {warm_result['max_ms']:.1f} ms "
              f"(search median {warm_result['search_median_ms']:.1f} ms)")
        print(f"cold start (median of {cold_result['runs']} fresh processes): import "
              f"{cold_result['import_ms']:.0f} ms + first answer "
              f"{cold_result['first_answer_ms']:.0f} ms = {cold_result['total_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
