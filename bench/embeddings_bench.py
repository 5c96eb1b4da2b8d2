"""Benchmark of the local embeddings model and the embedding cache.

Measures, with the real all-MiniLM-L6-v2 ONNX export:

* cold load: the first :meth:`LocalEmbeddings.load` in this process (importing onnxruntime
  and tokenizers, reading the tokenizer, building the session; the file cache may be warm);
* single-sentence latency: median and p95 of one-question ``embed`` calls;
* 10,000 distinct questions through :class:`CachedEmbeddings` with an empty cache (every text
  embedded) and again with the cache warm (every text a hit), in batches of 256 as an import
  makes them;
* 70,000 texts holding only 300 distinct strings, empty cache.

The machine's CPU count and load average are printed first: on shared cores the wall-clock
numbers scale with the load, the CPU seconds much less.

Run: ``.venv/bin/python bench/embeddings_bench.py`` (options: ``--distinct 10000``,
``--repeated 70000 --repeated-distinct 300``, ``--latency-runs 50``, ``--json``).

Example:
    >>> main(["--distinct", "500", "--repeated", "2000"])  # doctest: +SKIP
    cold load                          0.35 s
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.store_bench import build_questions  # noqa: E402
from knowledge.embeddings.cache import CachedEmbeddings, SqliteEmbeddingCache  # noqa: E402
from knowledge.embeddings.local import LocalEmbeddings  # noqa: E402

#: Texts per ``embed`` call, as :data:`knowledge.knowledge_base.BATCH_SIZE` items are embedded.
IMPORT_BATCH = 256


def timed_import(embeddings: CachedEmbeddings, texts: Sequence[str]) -> float:
    """Seconds to embed ``texts`` in import-sized batches."""
    started = time.perf_counter()
    for start in range(0, len(texts), IMPORT_BATCH):
        embeddings.embed(texts[start:start + IMPORT_BATCH], "q")
    return time.perf_counter() - started


def run(distinct: int, repeated: int, repeated_distinct: int, latency_runs: int) -> dict:
    """All measurements, as a dict of named numbers."""
    rng = random.Random(7)
    results: dict[str, float] = {"cpu_count": os.cpu_count() or 0,
                                 "load_average_1min": os.getloadavg()[0]}
    model = LocalEmbeddings()
    started = time.perf_counter()
    model.load()
    results["cold_load_s"] = time.perf_counter() - started

    probes = build_questions(latency_runs + 5, rng)
    model.embed(probes[:5])  # first runs allocate; time the steady state
    latencies = []
    for text in probes[5:]:
        started = time.perf_counter()
        model.embed([text])
        latencies.append(time.perf_counter() - started)
    results["single_median_ms"] = statistics.median(latencies) * 1000
    results["single_p95_ms"] = statistics.quantiles(latencies, n=20)[-1] * 1000

    with tempfile.TemporaryDirectory() as folder:
        questions = build_questions(distinct, rng)
        cached = CachedEmbeddings(model, SqliteEmbeddingCache(Path(folder) / "cold.sqlite"))
        cpu_started = time.process_time()
        cold = timed_import(cached, questions)
        results["cold_cache_cpu_s"] = time.process_time() - cpu_started
        warm = timed_import(cached, questions)
        results.update({"distinct_texts": distinct, "cold_cache_s": cold,
                        "cold_cache_texts_per_s": distinct / cold, "warm_cache_s": warm,
                        "warm_cache_texts_per_s": distinct / warm})

        pool = build_questions(repeated_distinct, rng)
        texts = [rng.choice(pool) for _ in range(repeated)]
        cached = CachedEmbeddings(model, SqliteEmbeddingCache(Path(folder) / "repeat.sqlite"))
        results.update({"repeated_texts": repeated, "repeated_distinct": len(set(texts)),
                        "repeated_s": timed_import(cached, texts),
                        "repeated_misses": cached.stats.misses})
    return results


def report(results: dict) -> str:
    """The measurements as a small table."""
    r = results
    return "\n".join([
        f"machine: {r['cpu_count']} CPUs, load average {r['load_average_1min']:.2f}",
        f"cold load                          {r['cold_load_s']:.2f} s",
        f"single sentence                    {r['single_median_ms']:.1f} ms median, "
        f"{r['single_p95_ms']:.1f} ms p95",
        f"{r['distinct_texts']:,} distinct, cold cache       {r['cold_cache_s']:.1f} s "
        f"({r['cold_cache_texts_per_s']:,.0f} texts/s; {r['cold_cache_cpu_s']:.1f} s of CPU)",
        f"{r['distinct_texts']:,} distinct, warm cache       {r['warm_cache_s']:.2f} s "
        f"({r['warm_cache_texts_per_s']:,.0f} texts/s)",
        f"{r['repeated_texts']:,} texts, {r['repeated_distinct']} distinct      "
        f"{r['repeated_s']:.2f} s ({r['repeated_misses']} embedded)",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--distinct", type=int, default=10_000)
    parser.add_argument("--repeated", type=int, default=70_000)
    parser.add_argument("--repeated-distinct", type=int, default=300)
    parser.add_argument("--latency-runs", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    results = run(args.distinct, args.repeated, args.repeated_distinct, args.latency_runs)
    print(json.dumps(results, indent=2) if args.json else report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
