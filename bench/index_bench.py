"""Recall and cost of the embedded store's vector index against exact search.

Vectors: the real all-MiniLM-L6-v2 vectors of the benchmark's first ``--real`` synthetic
questions (``bench.run.synthetic_questions``, embedded once through the benchmark's embedding
cache), and past them the synthetic vectors ``make bench`` uses for its big knowledge bases
(``bench.run.synthetic_vectors``: mixes of two real vectors plus noise). Two sets of queries,
embedded by the same model and never in the index:

* *held-out*: the ``--held-out`` benchmark questions that follow the indexed ones in the same
  sequence: questions like the stored ones, the usual way an index's recall is measured;
* *dev*: the questions of ``data/eval/dev.jsonl``, real user questions about the demo knowledge
  base. With ``--demo`` its questions are stored first, a small topic far from the bulk: the
  hard case for a graph index (the query's neighbours are a few islands the graph seldom
  links to).

For each size, the index is built exactly as the store builds it
(:func:`knowledge.stores.vector_index.build_index`, the same HNSW parameters, half-precision
vectors), then each query's 10 nearest rows are compared with exact search (float32 dot
products): recall@10 is the share of the exact 10 that the index returns; the store's recall
is that of what a search of the store gets (the 60 nearest rows of the index, rescored exactly).

Run: ``.venv/bin/python -m bench.index_bench [--real 20000] [--sizes 20000 100000] [--demo]
[--held-out 1000] [--json]``; ``--sizes ... 1000000`` takes about 10 minutes of CPU
(building the index), and ``--real 1000000`` about 30 minutes of embedding the first time
(cached after).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bench.run import CACHE, SPLITS, open_model, synthetic_questions, synthetic_vectors
from knowledge.stores import vector_index
from knowledge.stores.sqlite_store import VECTOR_ROWS_PER_ITEM

K = 10
#: Rows the store reads from the index for one search with the default MATCH_CANDIDATES (20).
STORE_ROWS = VECTOR_ROWS_PER_ITEM * 20


@functools.cache
def _model(cache: Path):
    """The embeddings model behind the cache at ``cache``, loaded once for every query set."""
    return open_model(cache)


def _embedded(questions: list[str], cache: Path) -> np.ndarray:
    return np.asarray(_model(cache).embed(questions, "q"), dtype=np.float32)


def real_vectors(count: int, cache: Path = CACHE) -> np.ndarray:
    """The real vectors of the first ``count`` benchmark questions (embedded once, cached)."""
    return _embedded(synthetic_questions(count), cache)


def query_vectors(cache: Path = CACHE) -> np.ndarray:
    """The dev set's questions, embedded."""
    from knowledge.evaluation import load_conversations

    return _embedded([t.question for c in load_conversations(SPLITS["dev"]) for t in c.turns],
                     cache)


def held_out_vectors(after: int, count: int, cache: Path = CACHE) -> np.ndarray:
    """The ``count`` benchmark questions that follow the first ``after``: questions like the
    indexed ones that no index of ``after`` rows holds."""
    return _embedded(synthetic_questions(after + count)[after:], cache)


def demo_vectors(cache: Path = CACHE) -> np.ndarray:
    """The demo knowledge base's questions, embedded: the small topic the dev set asks about."""
    from bench.run import DEMO_FILES

    questions = sorted({q for path in DEMO_FILES
                        for item in json.loads(path.read_text(encoding="utf-8"))["qna"]
                        for q in item.get("q", [])})
    return _embedded(questions, cache)


def measure(base: np.ndarray, size: int, query_sets: dict[str, np.ndarray],
            first: np.ndarray | None = None) -> dict:
    """Build an index of ``size`` vectors (``first``, then real ones, then synthetic ones), then
    recall@10 of each set of queries, and costs."""
    head = first if first is not None else np.empty((0, base.shape[1]), dtype=np.float32)
    size -= len(head)
    vectors = base[:size] if size <= len(base) else np.concatenate(
        [base, synthetic_vectors(base, size - len(base), seed=size)])
    vectors = np.concatenate([head, vectors]) if len(head) else vectors
    size = len(vectors)
    started, cpu = time.perf_counter(), time.process_time()
    chunks = ((np.arange(n, min(n + vector_index.BUILD_CHUNK, size)),
               vectors[n:n + vector_index.BUILD_CHUNK])
              for n in range(0, size, vector_index.BUILD_CHUNK))
    index = vector_index.AnnIndex(vector_index.build_index(chunks, vectors.shape[1]), size)
    build_s, build_cpu = time.perf_counter() - started, time.process_time() - cpu
    result = {"size": size, "real": min(size, len(base) + len(head)), "demo_first": len(head),
              "build_s": round(build_s, 1), "build_cpu_s": round(build_cpu, 1),
              "dtype": vector_index.DTYPE, "connectivity": vector_index.CONNECTIVITY,
              "expansion_add": vector_index.EXPANSION_ADD,
              "expansion_search": vector_index.EXPANSION_SEARCH, "queries": {}}
    for name, queries in query_sets.items():
        result["queries"][name] = _recall(index, vectors, queries)
    return result


def _recall(index: vector_index.AnnIndex, vectors: np.ndarray, queries: np.ndarray) -> dict:
    """Recall@10 of ``queries`` against exact search, the index's and the store's."""
    recalls, reranked, costs = [], [], []
    for start in range(0, len(queries), 100):  # exact search a hundred queries at a time
        batch = queries[start:start + 100]
        exact = np.argsort(-(batch @ vectors.T), axis=1)[:, :K]
        for query, want in zip(batch, exact, strict=True):
            cpu = time.process_time()
            got, _ = index.search(query, K)
            costs.append((time.process_time() - cpu) * 1000)
            recalls.append(len(set(got.tolist()) & set(want.tolist())) / K)
            # What the store does: read STORE_ROWS nearest rows, rescore them exactly.
            rows, _ = index.search(query, STORE_ROWS)
            best = rows[np.argsort(-(vectors[rows] @ query))[:K]]
            reranked.append(len(set(best.tolist()) & set(want.tolist())) / K)
    return {"queries": len(queries), f"recall@{K}": round(statistics.fmean(recalls), 4),
            "worst_query_recall": min(recalls),
            f"store_recall@{K}": round(statistics.fmean(reranked), 4),
            "query_cpu_ms_median": round(statistics.median(costs), 3),
            "query_cpu_ms_p95": round(float(np.percentile(costs, 95)), 3)}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=int, default=20_000,
                        help="benchmark questions embedded by the real model")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--demo", action="store_true",
                        help="add the demo knowledge base's questions first, as `make bench`'s "
                             "knowledge bases do: the dev questions' nearest rows are then a "
                             "small topic inside the bulk")
    parser.add_argument("--held-out", type=int, default=1_000,
                        help="benchmark questions past the largest size used as queries")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    base = real_vectors(args.real)
    query_sets = {"held-out": held_out_vectors(max(args.sizes), args.held_out),
                  "dev": query_vectors()}
    first = demo_vectors() if args.demo else None
    results = []
    for size in args.sizes:
        result = measure(base, size, query_sets, first)
        results.append(result)
        if not args.json:
            print(f"{size:>9,} vectors ({result['real']:,} real), build {result['build_s']:.0f} s "
                  f"({result['build_cpu_s']:.0f} s CPU)", flush=True)
            for name, found in result["queries"].items():
                print(f"    {name} queries ({found['queries']}): recall@{K} "
                      f"{found[f'recall@{K}']:.4f} (worst query {found['worst_query_recall']:.1f})"
                      f", the store's (best {K} of {STORE_ROWS} rescored) "
                      f"{found[f'store_recall@{K}']:.4f}, query CPU "
                      f"{found['query_cpu_ms_median']:.3f} ms "
                      f"(p95 {found['query_cpu_ms_p95']:.3f})", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
