"""Benchmark of the embedded store: put throughput and search latency.

Builds a knowledge base of N distinct, realistic short questions (two per item) with random
unit 384-dimension vectors, writes it in one ``put``, then times 200 searches of each kind
(hybrid = vector + keywords, vectors only, keywords only) and the reload of the vector cache
after a one-item edit.

Run: ``.venv/bin/python bench/store_bench.py`` (options: ``--sizes 10000 50000``,
``--queries 200``, ``--dimension 384``, ``--k 20``).

Example:
    >>> build_questions(3, random.Random(0))  # doctest: +SKIP
    ['How do I renew my parking permit?', ...]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from knowledge.items import parse_item  # noqa: E402
from knowledge.store import IndexInfo, SearchField, StoredItem  # noqa: E402
from knowledge.stores.sqlite_store import SqliteStore  # noqa: E402

OPENINGS = ["How do I", "Can I", "Where can I", "When should I", "Why can't I", "Who can help me",
            "What happens if I", "Is it possible to", "How long does it take to",
            "How much does it cost to", "Do I need an appointment to", "Who do I ask to"]
VERBS = ["renew", "cancel", "update", "reset", "pay for", "transfer", "apply for", "book",
         "change", "report", "replace", "upgrade", "download", "share", "return", "track",
         "activate", "close", "register", "verify", "extend", "suspend", "print", "collect"]
ADJECTIVES = ["my", "a new", "the annual", "a lost", "the shared", "an expired", "my child's",
              "the company", "a temporary", "the online", "a second", "the premium",
              "a damaged", "my partner's", "the family", "a stolen"]
NOUNS = ["parking permit", "library card", "password", "passport", "invoice", "subscription",
         "account", "driving licence", "refund", "appointment", "order", "warranty",
         "membership", "delivery", "insurance policy", "bank card", "tax return", "visa",
         "phone plan", "gym pass", "student loan", "pension", "mortgage", "water bill",
         "building permit", "vaccination record", "train ticket", "hotel booking",
         "health card", "voter registration", "fishing licence", "dog licence",
         "electricity contract", "season ticket", "residence permit", "birth certificate",
         "car registration", "school enrolment", "broadband contract", "loyalty card"]
PLACES = ["", " online", " abroad", " by phone", " on weekends", " in person", " this month",
          " before it expires", " from the app", " at the front desk", " by post",
          " for someone else"]
_PARTS = (OPENINGS, VERBS, ADJECTIVES, NOUNS, PLACES)
#: How many distinct questions :func:`build_questions` can make.
COMBINATIONS = math.prod(len(part) for part in _PARTS)


def question(number: int) -> str:
    """The ``number``-th template question (0 <= number < :data:`COMBINATIONS`)."""
    words = []
    for part in reversed(_PARTS):
        number, index = divmod(number, len(part))
        words.append(part[index])
    place, noun, adjective, verb, opening = words
    return f"{opening} {verb} {adjective} {noun}{place}?"


#: Step between consecutive questions through the combinations (a prime that does not divide
#: :data:`COMBINATIONS`, so every combination comes once before any repeats).
_STRIDE = 1_000_003


def build_questions(n: int, rng: random.Random) -> list[str]:
    """``n`` distinct short questions from templates, starting at a random combination.

    The first ``m`` questions of ``build_questions(n, random.Random(seed))`` are those of
    ``build_questions(m, random.Random(seed))``, so a bigger benchmark knowledge base extends a
    smaller one. Raises ValueError when ``n`` exceeds :data:`COMBINATIONS` (2,211,840) instead
    of searching for ever.
    """
    if n > COMBINATIONS:
        raise ValueError(f"build_questions can make at most {COMBINATIONS:,} distinct "
                         f"questions; {n:,} were asked for.")
    start = rng.randrange(COMBINATIONS)
    return [question((start + i * _STRIDE) % COMBINATIONS) for i in range(n)]


def unit_vectors(n: int, dimension: int, rng: np.random.Generator) -> np.ndarray:
    vectors = rng.standard_normal((n, dimension), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def stored_items(questions: list[str], dimension: int, seed: int) -> Iterator[StoredItem]:
    """Two questions per item, random vectors, generated while ``put`` consumes them."""
    rng = np.random.default_rng(seed)
    for n in range(0, len(questions), 2):
        pair = questions[n:n + 2]
        item = parse_item({"qid": f"Bench.{n // 2:06d}", "q": pair,
                           "a": f"The answer to: {pair[0]}", "t": f"topic{n % 50}"})
        yield StoredItem(item, unit_vectors(len(pair), dimension, rng),
                         unit_vectors(1, dimension, rng)[0])


@dataclass
class Latency:
    median_ms: float
    p95_ms: float
    cpu_median_ms: float

    def __str__(self) -> str:
        return (f"median {self.median_ms:7.2f} ms   p95 {self.p95_ms:7.2f} ms   "
                f"(CPU median {self.cpu_median_ms:6.2f} ms)")


def time_calls(call: Callable[[int], object], n: int) -> Latency:
    """Wall-clock median and p95, and median CPU time of this process (robust to a busy box)."""
    durations, cpu = [], []
    for i in range(n):
        started, cpu_started = time.perf_counter(), time.process_time()
        call(i)
        durations.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    durations.sort()
    return Latency(statistics.median(durations), durations[int(0.95 * (n - 1))],
                   statistics.median(cpu))


def bench(size: int, queries: int, dimension: int, k: int, folder: Path) -> None:
    rng = random.Random(size)
    questions = build_questions(size, rng)
    index = IndexInfo("bench/random", dimension)
    path = folder / f"bench-{size}.sqlite"
    store = SqliteStore(path)

    items = list(stored_items(questions, dimension, seed=size))
    started = time.perf_counter()
    written = store.put(items, replace_all=True, index=index)
    put_s = time.perf_counter() - started
    del items
    print(f"\n{size:,} questions ({written:,} items, {dimension} dims), "
          f"file {path.stat().st_size / 1e6:.0f} MB")
    print(f"  put (one transaction, replace_all):          {put_s:6.2f} s = "
          f"{size / put_s:8,.0f} questions/s")

    query_vectors = unit_vectors(queries, dimension, np.random.default_rng(1))
    query_texts = [rng.choice(questions).rstrip("?") for _ in range(queries)]

    started = time.perf_counter()
    store.search(SearchField.QUESTIONS, vector=query_vectors[0], text=None, k=k)
    print(f"  first search (loads the vector cache):       {time.perf_counter() - started:6.3f} s")

    def search(vector: bool, text: bool) -> Callable[[int], object]:
        return lambda i: store.search(SearchField.QUESTIONS,
                                      vector=query_vectors[i] if vector else None,
                                      text=query_texts[i] if text else None, k=k)

    for name, vector, text in [("hybrid", True, True), ("vector", True, False),
                               ("keyword", False, True)]:
        latency = time_calls(search(vector, text), queries)
        print(f"  {name + ' search':16s} ({queries} queries, k={k}): {latency}")

    edit = next(stored_items(["What is new in the benchmark?", "Is this an edit?"],
                             dimension, seed=7))
    started = time.perf_counter()
    store.put([edit], index=index)
    edit_s = time.perf_counter() - started
    started = time.perf_counter()
    store.search(SearchField.QUESTIONS, vector=query_vectors[0], text="edit", k=k)
    print(f"  one-item edit: put {edit_s * 1000:.1f} ms, next search (cache reload) "
          f"{(time.perf_counter() - started) * 1000:.0f} ms")
    store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="store-bench-") as folder:
        for size in args.sizes:
            bench(size, args.queries, args.dimension, args.k, Path(folder))


if __name__ == "__main__":
    main()
