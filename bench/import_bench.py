"""Benchmark of ``qnabot import``: the real importer into a real SQLite knowledge base.

Two generated files (JSON Lines, in a temporary folder), each imported three times through
:func:`knowledge.importer.import_files` into a :class:`KnowledgeBase` over a
:class:`SqliteStore`, with the embeddings model behind :class:`CachedEmbeddings`:

* ``repeated``: 70,000 items whose questions come from 300 distinct strings (the case in the
  issue: a file that should import in seconds);
* ``distinct``: 10,000 items, each with its own question.

Answers come from 300 distinct strings in both files, so the cold runs measure the questions.

Runs, per file: ``cold`` (empty store, empty embedding cache), ``warm`` (the same file again
into the same store: every item an upsert, every text a cache hit; the "re-import unchanged
content" case) and ``warm replace`` (again, with ``replace_all``). Each file is measured in a
child process of its own, so its peak RSS (``ru_maxrss``, which includes the model) is its
own; the peak after each run is printed.

The machine's CPU count and load average are printed first: on shared cores the wall-clock
numbers scale with the load, the CPU seconds much less.

Run: ``.venv/bin/python bench/import_bench.py`` (options: ``--repeated 70000``,
``--repeated-distinct 300``, ``--distinct 10000``, ``--embeddings hashing`` for the test
model instead of the local all-MiniLM-L6-v2, ``--only repeated``, ``--json``).

Example:
    >>> main(["--repeated", "2000", "--distinct", "500",
    ...       "--embeddings", "hashing"])  # doctest: +SKIP
    repeated cold            2,000 items ...
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.store_bench import build_questions  # noqa: E402
from knowledge.embeddings.base import Embeddings  # noqa: E402
from knowledge.embeddings.cache import CachedEmbeddings, SqliteEmbeddingCache  # noqa: E402
from knowledge.importer import import_files  # noqa: E402
from knowledge.knowledge_base import KnowledgeBase  # noqa: E402
from knowledge.stores.sqlite_store import SqliteStore  # noqa: E402

#: Distinct answer texts in both generated files.
ANSWER_POOL = 300
RUNS = (("cold", False), ("warm", False), ("warm replace", True))


def write_items(path: Path, items: int, distinct_questions: int, seed: int) -> int:
    """Write ``items`` JSON Lines items whose questions come from ``distinct_questions``
    strings; return how many questions the file holds."""
    rng = random.Random(seed)
    questions = build_questions(distinct_questions, rng)
    answers = [f"The answer to: {q}" for q in build_questions(ANSWER_POOL, rng)]
    with open(path, "w", encoding="utf-8") as handle:
        for n in range(items):
            question = questions[n % len(questions)]
            item = {"qid": f"Bench.{n:06d}", "q": [question], "a": answers[n % len(answers)],
                    "t": f"topic{n % 50}"}
            handle.write(json.dumps(item) + "\n")
    return items


def open_embeddings(name: str) -> Embeddings:
    if name == "hashing":
        from knowledge.embeddings.hashing import HashingEmbeddings
        return HashingEmbeddings(dimension=64)
    from knowledge.embeddings.local import LocalEmbeddings
    model = LocalEmbeddings()
    model.load()  # the model's load time is not the import's
    return model


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def measure_file(label: str, items: int, distinct_questions: int,
                 embeddings_name: str) -> list[dict]:
    """Import one generated file cold, warm and warm with replace_all; one dict per run."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        path = root / f"{label}.jsonl"
        questions = write_items(path, items, distinct_questions, seed=len(label))
        model = open_embeddings(embeddings_name)
        cache = SqliteEmbeddingCache(root / "embeddings.sqlite")
        store = SqliteStore(root / "knowledge.sqlite")
        kb = KnowledgeBase(store, CachedEmbeddings(model, cache))
        results = []
        for run, replace_all in RUNS:
            cpu = time.process_time()
            started = time.perf_counter()
            report = import_files(kb, [path], replace_all=replace_all)
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            assert report.stored == items and report.rejected == 0, report.summary()
            results.append({
                "file": label, "run": run, "items": items, "questions": questions,
                "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
                "items_per_s": round(items / seconds),
                "questions_per_s": round(questions / seconds),
                "cache_misses": report.cache_misses, "peak_rss_mb": round(peak_rss_mb()),
            })
        results[0].update(model_floor(model, path))
        store.close()
        cache.close()
        return results


def model_floor(model: Embeddings, path: Path) -> dict:
    """The model's own cost for the file's distinct texts, embedded in one call (its best
    batching), measured in the same process after the cold import: the floor an import of new
    questions is compared with (``model_ratio``: import CPU over model CPU)."""
    questions: dict[str, None] = {}
    answers: dict[str, None] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            questions.update(dict.fromkeys(item["q"]))
            answers[item["a"]] = None
    cpu, started = time.process_time(), time.perf_counter()
    model.embed(list(questions), "q")
    model.embed(list(answers), "a")
    return {"model_seconds": round(time.perf_counter() - started, 3),
            "model_cpu_seconds": round(time.process_time() - cpu, 3)}


def show(result: dict) -> str:
    return (f"{result['file']:<9}{result['run']:<14}{result['items']:>7,} items "
            f"{result['seconds']:>7.2f} s (cpu {result['cpu_seconds']:>6.2f} s) "
            f"{result['items_per_s']:>8,} items/s {result['questions_per_s']:>8,} questions/s "
            f"misses {result['cache_misses']:>6,}  peak RSS {result['peak_rss_mb']:>5,} MB"
            + (f"  (the model alone: {result['model_cpu_seconds']:.2f} s cpu, import/model "
               f"{result['cpu_seconds'] / result['model_cpu_seconds']:.2f}x)"
               if result.get("model_cpu_seconds") else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeated", type=int, default=70_000)
    parser.add_argument("--repeated-distinct", type=int, default=300)
    parser.add_argument("--distinct", type=int, default=10_000)
    parser.add_argument("--embeddings", choices=("local", "hashing"), default="local")
    parser.add_argument("--only", choices=("repeated", "distinct"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    files = {"repeated": (args.repeated, args.repeated_distinct),
             "distinct": (args.distinct, args.distinct)}
    if args.child:  # one file, in this process; the parent reads the JSON
        print(json.dumps(measure_file(args.only, *files[args.only], args.embeddings)))
        return 0
    if not args.json:
        print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}, "
              f"embeddings {args.embeddings}")
    results = []
    for label in [args.only] if args.only else list(files):
        command = [sys.executable, __file__, "--child", "--only", label,
                   "--embeddings", args.embeddings, "--repeated", str(args.repeated),
                   "--repeated-distinct", str(args.repeated_distinct),
                   "--distinct", str(args.distinct)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        for result in json.loads(output.strip().splitlines()[-1]):
            results.append(result)
            if not args.json:
                print(show(result), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
