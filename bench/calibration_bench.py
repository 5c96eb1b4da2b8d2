"""Does a confidence mean the same in a knowledge base of 100 items as in one of 5,000?

For each labeled set (``dev``: the demo knowledge base; ``second``: Kestrel Home Internet)
the set's own knowledge base is built, then the same one plus N *distractor* items, and the
set's turns are matched at the shipped default settings (record once, replay: the matcher's
own decision code, :mod:`knowledge.evaluation`). Distractors are the other set's items (a
different domain) and then deterministic off-domain FAQ items (:func:`distractor_items`:
gym passes, mortgages, school enrolment, ...; nouns that any labeled question asks about, such
as passports or driving licences, are left out, so no distractor is a right answer).

Per set and size it reports accuracy (answerable turns answered right), the wrong-answer
rate, no-hit precision, the share of turns answered, and a reliability table: the top
candidate's confidence (its share of the turn's softmax) in bins, against the share of those
turns where it is the expected item, with the expected calibration error (ECE, 10 equal bins).
A confidence that means the same at every size keeps these rows the same.

Deterministic: the knowledge bases, the classifier's training and the replays involve no
randomness beyond fixed seeds. Vectors come through the benchmark's embedding cache
(``build/bench-cache/embeddings.sqlite``), so only a first run embeds the distractors (about
15,000 short texts with the local model).

Usage::

    .venv/bin/python -m bench.calibration_bench [--sizes 0 500 2000 5000] [--sets dev second]
                                                [--json] [--embeddings local|hashing]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "build" / "bench-cache" / "embeddings.sqlite"
#: Each labeled set: its knowledge-base files and its labeled turns.
SETS = {
    "dev": ((ROOT / "data" / "demo" / "hct-qna.json", ROOT / "data" / "demo" / "hct-passages.json"),
            ROOT / "data" / "eval" / "dev.jsonl"),
    "second": ((ROOT / "data" / "second" / "kestrel-qna.json",),
               ROOT / "data" / "second" / "eval.jsonl"),
}
#: Whose items are the first distractors of each set (a knowledge base of another domain).
OTHER = {"dev": "second", "second": "dev"}
SIZES = (0, 500, 2_000, 5_000)
#: Reliability bins of the top candidate's confidence (lower edges).
BINS = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9)
SPECIAL_QUESTIONS = {"no_hits", "error_msg"}

# Off-domain FAQ items: "<verb> <adjective> <noun>" asked two ways. No noun is one a labeled
# question of dev, held-out or the second set asks about (no passports, licences, phone plans,
# bills, passwords, tickets, flights, libraries, internet or transit).
VERBS = ("renew", "cancel", "update", "pay for", "transfer", "apply for", "change", "replace",
         "upgrade", "register", "extend", "suspend", "close", "verify", "claim", "split")
ADJECTIVES = ("my", "a joint", "the annual", "a new", "my child's", "the family", "a second",
              "the premium", "my partner's", "a temporary", "the company", "an expired")
NOUNS = ("gym membership", "student loan", "pension plan", "mortgage", "building permit",
         "tax return", "choir membership", "residence permit", "birth certificate",
         "school enrolment", "loyalty card", "home insurance policy", "pet insurance",
         "dental plan", "savings account", "tennis court booking", "rental deposit",
         "daycare place", "swimming lessons", "yoga class pass", "garden allotment",
         "solar panel grant", "wedding venue booking", "piano lessons", "boat mooring",
         "self-storage unit", "coworking desk", "marriage certificate")
OPENINGS = (("How do I {v} {a} {n}?", "Can I {v} {a} {n} online?"),
            ("What do I need to {v} {a} {n}?", "Where do I go to {v} {a} {n}?"),
            ("Is there a fee to {v} {a} {n}?", "How long does it take to {v} {a} {n}?"))
ANSWERS = ("To {v} {a} {n}, sign in to the member portal, choose {n_title}, and follow the "
           "steps; it takes about {d} working days.",
           "You can {v} {a} {n} at any service centre with photo ID; a fee of ${f} applies.",
           "Send the {n} form to the records office; we confirm by email within {d} days.")


def distractor_items(count: int, other_set: str) -> list:
    """``count`` distractors: the other set's items (qids and topics prefixed, so they never
    clash or share a topic), then off-domain FAQ items; the first ``m`` of a larger count are
    the ``m`` of a smaller one."""
    from knowledge.items import parse_item

    items = []
    for raw in _raw_items(SETS[other_set][0]):
        if SPECIAL_QUESTIONS & set(raw.get("q", ())):
            continue
        raw = {**raw, "qid": f"Other.{raw['qid']}"}
        if raw.get("t"):
            raw["t"] = f"other-{raw['t']}"
        items.append(parse_item(raw))
    combos = ((v, a, n) for n in NOUNS for v in VERBS for a in ADJECTIVES)
    for number, (verb, adjective, noun) in zip(range(max(0, count - len(items))), combos,
                                              strict=False):
        fields = {"v": verb, "a": adjective, "n": noun, "n_title": noun.title(),
                  "d": 3 + number % 9, "f": 10 + 5 * (number % 7)}
        questions = [q.format(**fields) for q in OPENINGS[number % len(OPENINGS)]]
        answer = ANSWERS[number % len(ANSWERS)].format(**fields)
        items.append(parse_item({"qid": f"Distractor.{number:05d}", "q": questions,
                                 "a": answer, "t": f"offdomain-{NOUNS.index(noun)}"}))
    return items[:count]


def _raw_items(files: Sequence[Path]) -> Iterator[dict]:
    for path in files:
        yield from json.loads(path.read_text("utf-8"))["qna"]


def open_model(cache: Path):
    """The configured embeddings model behind the benchmark's embedding cache."""
    from knowledge.backends import open_embeddings
    from knowledge.embeddings.cache import CachedEmbeddings, SqliteEmbeddingCache

    cache.parent.mkdir(parents=True, exist_ok=True)
    return CachedEmbeddings(open_embeddings(), SqliteEmbeddingCache(cache))


def reliability(outcomes: Sequence, bins: Sequence[float] = BINS) -> dict:
    """The top candidate's confidence against whether it is the expected item.

    Returns ``rows`` (per bin: turns, mean confidence, share right, and among the turns that
    were answered how many were right) and ``ece``: the expected calibration error over 10
    equal-width bins (sum over bins of ``turns / all x |share right - mean confidence|``).
    Turns that expect no answer count as wrong whatever the top candidate is.
    """
    scored = [(o.top_confidence, o.top_qid is not None and o.top_qid == o.expected.qid,
               o.answered, o.correct) for o in outcomes if o.top_confidence is not None]
    edges = [*bins, 1.0 + 1e-9]
    rows = []
    for low, high in zip(edges, edges[1:], strict=False):
        inside = [s for s in scored if low <= s[0] < high]
        answered = [s for s in inside if s[2]]
        rows.append({
            "bin": f"{low:.1f}-{min(high, 1.0):.1f}", "turns": len(inside),
            "mean_confidence": _mean([s[0] for s in inside]),
            "top_right": _mean([float(s[1]) for s in inside]),
            "answered": len(answered),
            "answered_right": _mean([float(s[3]) for s in answered])})
    ece = 0.0
    for k in range(10):
        inside = [s for s in scored if k / 10 <= s[0] < (k + 1) / 10 or (k == 9 and s[0] == 1)]
        if inside:
            ece += len(inside) / len(scored) * abs(
                sum(s[1] for s in inside) / len(inside) - sum(s[0] for s in inside) / len(inside))
    return {"rows": rows, "ece": round(ece, 4)}


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def measure_set(name: str, sizes: Sequence[int], embeddings: Any, work: Path,
                log=print) -> list[dict]:
    """Build the set's knowledge base with each number of distractors, train its classifier,
    replay the set's turns at the default settings; one result per size."""
    from knowledge.classifier import MemoryClassifierRepo
    from knowledge.evaluation import load_conversations, record, replay, summarize
    from knowledge.items import parse_item
    from knowledge.knowledge_base import KnowledgeBase
    from knowledge.matching import MatchParams
    from knowledge.settings import Settings
    from knowledge.stores.sqlite_store import SqliteStore

    files, labeled = SETS[name]
    own = [parse_item(raw) for raw in _raw_items(files)]
    conversations = load_conversations(labeled)
    settings = Settings.defaults()
    params = MatchParams.from_settings(settings)
    results = []
    for size in sizes:
        started = time.perf_counter()
        distractors = distractor_items(size, OTHER[name])
        kb = KnowledgeBase(SqliteStore(work / f"{name}-{size}.sqlite"), embeddings,
                           MemoryClassifierRepo())
        kb.put_items([*own, *distractors], replace_all=True)
        kb.wait_for_classifier()
        model = kb.classifier.current()
        outcomes = replay(record(kb, conversations, settings), params)
        kb.close()
        summary = summarize(outcomes, by_category=False)
        answered = sum(o.answered for o in outcomes)
        wrong_distractor = sum(1 for o in outcomes if o.answered and not o.correct and o.qid
                               and o.qid.startswith(("Other.", "Distractor.")))
        result = {
            "set": name, "distractors": len(distractors), "items": len(own) + len(distractors),
            "scale": model.scale if model is not None else None,
            "turns": summary["turns"], "accuracy": summary["accuracy"],
            "wrong_rate": summary["wrong_rate"], "no_hit_precision": summary["no_hit_precision"],
            "overall": summary["overall"], "mrr": summary["mrr"],
            "answered": round(answered / len(outcomes), 4),
            "answered_right": round(1 - summary["wrong_rate"] * len(outcomes) / answered, 4)
            if answered else None,
            "top_right": round(sum(o.top_qid == o.expected.qid for o in outcomes
                                   if not o.expected.no_answer) / summary["answerable"], 4),
            "wrong_by_distractor": wrong_distractor,
            "reliability": reliability(outcomes),
            "seconds": round(time.perf_counter() - started, 1)}
        log(f"{name} +{len(distractors):,} distractors: accuracy {result['accuracy']}, "
            f"wrong {result['wrong_rate']}, no-hit precision {result['no_hit_precision']}, "
            f"answered {result['answered']}, ECE {result['reliability']['ece']} "
            f"({result['seconds']} s)")
        results.append(result)
    return results


def measure(sizes: Sequence[int] = SIZES, sets: Sequence[str] = tuple(SETS),
            cache: Path = CACHE, log=print) -> list[dict]:
    """Every set at every size (see the module docstring)."""
    embeddings = open_model(cache)
    with tempfile.TemporaryDirectory(prefix="qnabot-calibration-") as folder:
        return [result for name in sets
                for result in measure_set(name, sizes, embeddings, Path(folder), log)]


def markdown(results: Sequence[dict]) -> list[str]:
    """The figures as markdown: one quality row per set and size, then reliability rows."""
    def f(value: Any) -> str:
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| set | items | accuracy | wrong | no-hit precision | answered | right when "
             "answered | top candidate right | ECE |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['set']} | {r['items']:,} | {f(r['accuracy'])} | "
                     f"{f(r['wrong_rate'])} | {f(r['no_hit_precision'])} | {f(r['answered'])} | "
                     f"{f(r.get('answered_right'))} | {f(r.get('top_right'))} | "
                     f"{f(r['reliability']['ece'])} |")
    lines += ["", "Reliability (top candidate's confidence: turns / mean confidence / share "
                  "where it is the expected item):", "",
              "| set | items | " + " | ".join(row["bin"] for row in results[0]["reliability"]
                                              ["rows"]) + " |",
              "|---|---:|" + "---|" * len(BINS)]
    for r in results:
        cells = [f"{row['turns']} / {f(row['mean_confidence'])} / {f(row['top_right'])}"
                 for row in r["reliability"]["rows"]]
        lines.append(f"| {r['set']} | {r['items']:,} | " + " | ".join(cells) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES),
                        help="numbers of distractor items (default 0 500 2000 5000)")
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=list(SETS))
    parser.add_argument("--embeddings", choices=("local", "hashing"), default="local")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    os.environ["EMBEDDINGS_API"] = args.embeddings.upper()
    results = measure(args.sizes, args.sets, args.cache,
                      log=lambda text: print(text, file=sys.stderr, flush=True))
    print(json.dumps(results, indent=2) if args.json else "\n".join(markdown(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
