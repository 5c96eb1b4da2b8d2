"""``make bench``: latency, cold start, import throughput, memory and accuracy, in one run.

Measures on this machine, side by side (see ``bench/README.md`` for what each figure means):

* **turn latency** of the fulfillment handler, warm and in process, for the embedded store at
  each knowledge-base size (default 1,000, 10,000 and 50,000 distinct questions: the demo
  knowledge base plus synthetic items), without an LLM and with the scripted test LLM
  answering after a fixed delay (LLM rewrite and QA on), so our overhead around LLM calls
  shows; the queries are the questions of ``data/eval/dev.jsonl`` run as conversations through
  :class:`fulfillment.evaluation.ConversationRunner` (the ``qnabot eval`` runner), each with
  an opening that keeps it out of the embedding cache;
* **peak memory** (RSS) of the process answering those turns, per size;
* **cold start** per size: fresh processes importing the handler and answering once
  (:func:`bench.turn_bench.cold`);
* **import throughput** in questions per second, cold and warm embedding cache
  (:mod:`bench.import_bench`);
* **accuracy** of hybrid, embeddings-only and keywords-only matching on the dev and held-out
  splits (record once, replay per mode: :mod:`knowledge.evaluation`), and of the whole handler
  (``qnabot eval``), with the default settings on the demo knowledge base;
* **calibration across sizes**: accuracy, wrong answers and a reliability table of the
  confidence for dev and the second set, at their own knowledge base and with distractor
  items added (:mod:`bench.calibration_bench`).

Synthetic questions are embedded once and kept in an embedding cache
(``build/bench-cache/embeddings.sqlite``), so later runs build the big knowledge bases from
cached vectors. Each size is measured in a child process of its own. Results go to
``bench/results.md`` and ``bench/latency.png``. Benchmarks report; they never fail on timing.

Usage::

    .venv/bin/python -m bench.run [--quick] [--embeddings local|hashing] [--out bench]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO_FILES = (ROOT / "data" / "demo" / "hct-qna.json", ROOT / "data" / "demo" / "hct-passages.json")
SPLITS = {"dev": ROOT / "data" / "eval" / "dev.jsonl",
          "held-out": ROOT / "data" / "eval" / "heldout.jsonl"}
#: The second labeled set, in another domain, never tuned on: its knowledge base and turns.
SECOND_FILES = (ROOT / "data" / "second" / "kestrel-qna.json",)
SECOND_SPLITS = {"second": ROOT / "data" / "second" / "eval.jsonl"}
#: Classifier training measured on synthetic knowledge bases of these many items.
CLASSIFIER_ITEMS = (1_000, 10_000, 100_000)
CACHE = ROOT / "build" / "bench-cache" / "embeddings.sqlite"
LLM_SET = ROOT / "data" / "eval" / "llm.jsonl"
MODES = ("hybrid", "embeddings", "keywords")
#: Distinct answers of the synthetic items (the questions are what the sizes count).
SYNTHETIC_ANSWERS = 500
#: Marks a knowledge base kept by ``--keep``: what it holds and how it was built.
BUILT = "bench-built.json"
#: Conversations chained into one session for the LLM run, so most turns have history.
SESSION_CONVERSATIONS = 5


@dataclass(frozen=True)
class Plan:
    """How much to measure: the full run, or ``--quick``."""

    sizes: tuple[int, ...] = (1_000, 10_000, 100_000, 1_000_000)
    #: Synthetic questions embedded by the real model; past them vectors are synthetic
    #: (:func:`synthetic_vectors`).
    real_questions: int = 20_000
    turns: int = 348  # warm turns per size without an LLM (the dev set has 348)
    llm_turns: int = 40  # per size, with the delayed LLM
    llm_delay_ms: float = 200.0
    cold_runs: int = 3
    import_questions: int = 3_000
    conversations: int | None = None  # per split for accuracy (None: all)
    warm_up_turns: int = 5
    classifier_items: tuple[int, ...] = CLASSIFIER_ITEMS
    #: Distractor items added to each labeled set's knowledge base for the calibration table
    #: (``python -m bench.calibration_bench`` alone adds 5,000 too: about 10 minutes more).
    distractors: tuple[int, ...] = (0, 500, 2_000)


QUICK = Plan(sizes=(700, 1_500), real_questions=1_000, turns=20, llm_turns=6,
             llm_delay_ms=20.0, cold_runs=1, import_questions=300, conversations=25,
             warm_up_turns=2, classifier_items=(300,), distractors=(0, 300))


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` percentile (0..1) by nearest rank (as :mod:`bench.turn_bench`)."""
    from bench.turn_bench import percentile as nearest_rank

    return nearest_rank(list(values), share)


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MB.

    Read from ``VmHWM``: ``ru_maxrss`` of a child process started from a large parent reports
    the parent's peak (Linux carries it across ``exec``).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def run_child(task: str, **options: Any) -> dict:
    """Run ``bench.run --child task`` in a fresh process; its JSON result."""
    command = [sys.executable, "-m", "bench.run", "--child", task,
               "--options", json.dumps(options)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"bench child {task} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- knowledge bases ------------------------------------------------------------------------


def open_model(cache: Path):
    """The configured embeddings model behind the embedding cache at ``cache``, which keeps
    the synthetic questions' vectors between runs (keyed by model id)."""
    from knowledge.backends import open_embeddings
    from knowledge.embeddings.cache import CachedEmbeddings, SqliteEmbeddingCache

    cache.parent.mkdir(parents=True, exist_ok=True)
    return CachedEmbeddings(open_embeddings(), SqliteEmbeddingCache(cache))


def synthetic_vectors(base: Any, count: int, seed: int) -> Any:
    """``count`` unit vectors made from the real vectors ``base``: each is a random mix of two
    of them (weights 0.6-1.0 and the rest) plus Gaussian noise (0.03 per dimension), so they
    spread like real sentence vectors, with clusters and near-duplicates, not like uniform
    random ones. ``bench/index_bench.py`` measures the index's recall on both."""
    import numpy as np

    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(base), count)
    second = rng.integers(0, len(base), count)
    weight = rng.uniform(0.6, 1.0, (count, 1)).astype(np.float32)
    vectors = weight * base[first] + (1 - weight) * base[second]
    vectors += rng.standard_normal(vectors.shape, dtype=np.float32) * np.float32(0.03)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def synthetic_questions(count: int) -> list[str]:
    """The benchmark's synthetic questions: the first ``count`` of one fixed sequence."""
    from bench.store_bench import build_questions

    return build_questions(count, random.Random(50_000))


def synthetic_stored_items(count: int, embeddings: Any, real_questions: int) -> Any:
    """``count`` distinct synthetic questions as stored items of two questions each.

    The first ``real_questions`` questions and every answer text are embedded by
    ``embeddings`` (through its cache); the other questions, and the answers of their items,
    get :func:`synthetic_vectors` built from those real vectors (a million questions would
    take the local model about 45 minutes of CPU). Items are made while the store writes them.
    """
    import numpy as np

    from knowledge.items import parse_item
    from knowledge.store import StoredItem

    questions = synthetic_questions(count)
    answers = [f"Here is how: {q}" for q in build_answers()]
    real = embeddings.embed(questions[:real_questions], "q")
    answer_vectors = embeddings.embed(answers, "a")
    chunk = 50_000
    for start in range(0, len(questions), chunk):
        texts = questions[start:start + chunk]
        if start + len(texts) <= len(real):
            vectors = real[start:start + len(texts)]
        else:
            vectors = np.concatenate([real[start:], synthetic_vectors(
                real, start + len(texts) - max(start, len(real)), seed=start)])
        numbers = np.arange(start // 2, (start + len(texts) + 1) // 2)
        item_answers = answer_vectors[numbers % len(answers)]
        synthetic = numbers * 2 >= len(real)  # these items get answer vectors of their own
        noise = np.random.default_rng(start).standard_normal(item_answers.shape,
                                                             dtype=np.float32)
        item_answers[synthetic] += np.float32(0.03) * noise[synthetic]
        item_answers /= np.linalg.norm(item_answers, axis=1, keepdims=True)
        for n in range(0, len(texts), 2):
            number = (start + n) // 2
            item = parse_item({"qid": f"Synthetic.{number:07d}", "q": texts[n:n + 2],
                               "a": answers[number % len(answers)],
                               "t": f"synthetic{number % 40}"})
            yield StoredItem(item, vectors[n:n + 2], item_answers[n // 2])


def build_answers() -> list[str]:
    """The distinct answer texts of the synthetic items."""
    from bench.store_bench import build_questions

    return build_questions(SYNTHETIC_ANSWERS, random.Random(1))


def build_home(home: Path, questions: int, embeddings: Any, real_questions: int) -> dict:
    """A ``QNABOT_HOME`` holding the demo knowledge base plus synthetic items, ``questions``
    distinct questions in all; what it holds and how long it took to build (vector indexes
    included)."""
    from knowledge.backends import open_classifier_repo, open_store
    from knowledge.importer import import_files
    from knowledge.knowledge_base import KnowledgeBase
    from knowledge.store import IndexInfo

    home.mkdir(parents=True, exist_ok=True)
    kb = KnowledgeBase(open_store(home), embeddings, open_classifier_repo(home))
    started = time.perf_counter()
    import_files(kb, list(DEMO_FILES))
    demo = len({q for item in kb.store.iter_items() for q in item.questions})
    kb.store.put(synthetic_stored_items(max(0, questions - demo), embeddings, real_questions),
                 index=IndexInfo(embeddings.model_id, embeddings.dimension))
    items = kb.store.count()
    kb.close()
    files = [home / "knowledge.sqlite", *home.glob("knowledge.sqlite.*.usearch")]
    return {"questions": max(questions, demo), "items": items,
            "store_mb": round(sum(f.stat().st_size for f in files if f.exists()) / 1e6, 1),
            "build_s": round(time.perf_counter() - started, 1),
            "real_questions": min(questions, real_questions + demo)}


# --- children: latency at one size, accuracy --------------------------------------------------


def _quiet_handler_logs() -> None:
    import logging

    from fulfillment import handler

    handler.logger.setLevel(logging.ERROR)


def _with_openings(conversations: list, opening: str) -> list:
    """The conversations with ``opening`` before every question (new text: no cache hits)."""
    return [replace(c, turns=tuple(replace(t, question=opening + t.question) for t in c.turns))
            for c in conversations]


def _first_turns(conversations: list, turns: int) -> list:
    """Whole conversations from the start, about ``turns`` turns in all."""
    kept, count = [], 0
    for conversation in conversations:
        if count >= turns:
            break
        kept.append(conversation)
        count += len(conversation.turns)
    return kept


def _sessions(conversations: list, size: int) -> list:
    """Consecutive conversations chained into sessions of ``size`` (a user asking on)."""
    from knowledge.evaluation import Conversation

    return [Conversation(f"s{n}", "session",
                         tuple(t for c in conversations[n:n + size] for t in c.turns))
            for n in range(0, len(conversations), size)]


class DelayedLLM:
    """The scripted test LLM answering after a fixed delay: a stand-in for a real model's
    latency (rewrites echo the last line of the prompt)."""

    name = "SCRIPTED-DELAYED"
    enabled = True

    def __init__(self, delay_s: float):
        from fulfillment.llm.scripted import ScriptedLLM

        self.delay_s = delay_s
        self.scripted = ScriptedLLM([self._reply])

    def _reply(self, prompt: Any) -> str:
        time.sleep(self.delay_s)  # the model "thinking": a benchmark, not a test
        lines = [line for line in prompt.text.splitlines() if line.strip()]
        return lines[-1] if lines else "OK"

    def generate(self, prompt: Any, *, timeout: float, settings: Any) -> Any:
        """The scripted reply, after the delay (the ``LLM`` port)."""
        return self.scripted.generate(prompt, timeout=timeout, settings=settings)


def _latency(outcomes: list) -> dict:
    values = [o.latency_ms for o in outcomes]
    return {"turns": len(values), "median_ms": round(statistics.median(values), 2),
            "p95_ms": round(percentile(values, 0.95), 2)}


def child_latency(home: str, turns: int, llm_turns: int, llm_delay_ms: float,
                  warm_up_turns: int) -> dict:
    """Warm turns through the handler without an LLM, then with the delayed LLM."""
    os.environ["QNABOT_HOME"] = home
    from bench.turn_bench import OPENINGS
    from fulfillment.evaluation import ConversationRunner
    from fulfillment.handler import FulfillmentService
    from knowledge.evaluation import load_conversations

    _quiet_handler_logs()
    dev = load_conversations(SPLITS["dev"])
    runner = ConversationRunner.from_environment()
    runner.run(_with_openings(_first_turns(dev[::-1], warm_up_turns), OPENINGS[1]))
    cpu_ms: list[float] = []
    fulfill = runner.fulfill

    def timed_fulfill(event: Any, context: Any) -> Any:
        started = time.process_time()
        try:
            return fulfill(event, context)
        finally:
            cpu_ms.append((time.process_time() - started) * 1000)

    runner.fulfill = timed_fulfill
    outcomes = []
    for round_number in range(0, turns, sum(len(c.turns) for c in dev)):
        opening = OPENINGS[2 + round_number % (len(OPENINGS) - 2)]
        outcomes += runner.run(_with_openings(_first_turns(dev, turns - len(outcomes)),
                                              opening))
    runner.fulfill = fulfill
    result = {"no_llm": {**_latency(outcomes),
                         "cpu_median_ms": round(statistics.median(cpu_ms), 2),
                         "cpu_p95_ms": round(percentile(cpu_ms, 0.95), 2)}}

    delay_s = llm_delay_ms / 1000
    service = FulfillmentService.from_environment()
    service.pipeline.services.llm = DelayedLLM(delay_s)
    service.pipeline.smart_rewrite_skip = False  # QnABot's rule: rewrite every turn with history
    llm_runner = ConversationRunner.for_service(service)
    sessions = _with_openings(_sessions(dev, SESSION_CONVERSATIONS), "So, ")
    # Warm up the LLM path too (the first prompt loads the tokenizer), with other sessions.
    llm_runner.run(_with_openings(_first_turns(sessions[::-1], warm_up_turns), "Well, "))
    llm_outcomes = llm_runner.run(_first_turns(sessions, llm_turns))[:llm_turns] if llm_turns \
        else []
    if llm_outcomes:
        calling = [o for o in llm_outcomes if o.llm_calls]
        overheads = [o.latency_ms - o.llm_calls * llm_delay_ms for o in calling]
        result["llm"] = {**_latency(llm_outcomes), "delay_ms": llm_delay_ms,
                         "llm_calls_per_turn": round(
                             statistics.fmean(o.llm_calls for o in llm_outcomes), 2),
                         "overhead_median_ms": round(statistics.median(overheads), 2)
                         if overheads else None}
    result["peak_rss_mb"] = round(peak_rss_mb())
    return result


def child_accuracy(home: str, conversations: int | None, splits: dict | None = None,
                   files: list | None = None) -> dict:
    """Matching modes by record/replay, and the whole handler, on each split; ``files`` are
    imported first (a knowledge base of its own)."""
    os.environ["QNABOT_HOME"] = home
    from fulfillment.evaluation import ConversationRunner
    from knowledge.backends import open_knowledge_base
    from knowledge.evaluation import load_conversations, record, replay, summarize
    from knowledge.importer import import_files
    from knowledge.matching import MatchParams
    from knowledge.settings import Settings

    _quiet_handler_logs()
    settings = Settings.defaults()
    kb = open_knowledge_base()
    if files:
        import_files(kb, [Path(f) for f in files])
        kb.wait_for_classifier()
    runner = ConversationRunner.from_environment()
    results: dict[str, dict] = {}
    cosine = settings.with_overrides(CLASSIFIER_ENABLE=False)
    for split, path in (splits or {k: str(v) for k, v in SPLITS.items()}).items():
        loaded = load_conversations(Path(path))[:conversations]
        for mode in MODES:
            recording = record(kb, loaded, settings, mode)  # type: ignore[arg-type]
            outcomes = replay(recording, MatchParams.from_settings(settings, mode))  # type: ignore[arg-type]
            results[f"{split}/{mode}"] = summarize(outcomes, by_category=False)
            if mode == "hybrid":  # the same rules, ranked by plain cosine (no classifier)
                outcomes = replay(record(kb, loaded, cosine, mode),
                                  MatchParams.from_settings(cosine, mode))
                results[f"{split}/cosine"] = summarize(outcomes, by_category=False)
        results[f"{split}/handler"] = summarize(runner.run(loaded), by_category=False)
    return results


def child_classifier(items: int, questions_per_item: int = 3, dimension: int = 384) -> dict:
    """Train the classifier on a synthetic knowledge base of ``items`` items (clustered unit
    vectors, like paraphrases of nearby topics): seconds and peak memory."""
    import numpy as np

    from knowledge.classifier import TrainingSet, train

    rng = np.random.default_rng(7)
    topics = rng.normal(size=(max(1, items // 20), dimension)).astype(np.float32)
    centres = topics[rng.integers(0, len(topics), items)] + 0.6 * rng.normal(
        size=(items, dimension)).astype(np.float32)
    rows = []
    for n in range(items):
        questions = centres[n] + 0.5 * rng.normal(size=(questions_per_item, dimension))
        rows.append((f"Item.{n}", questions.astype(np.float32),
                     (centres[n] + 0.5 * rng.normal(size=dimension)).astype(np.float32)))
    examples = TrainingSet.of(rows)
    del rows
    before = peak_rss_mb()
    started = time.perf_counter()
    model = train(examples, model_id="synthetic")
    seconds = time.perf_counter() - started
    return {"items": items, "examples": len(examples.vectors), "train_s": round(seconds, 1),
            "peak_rss_mb": round(peak_rss_mb()), "rss_before_mb": round(before),
            "model_mb": round(len(model.to_bytes()) / 1e6, 1)}


def child_import_demo(home: str) -> dict:
    """Import the demo knowledge base into an empty ``home`` (its own, empty embedding cache),
    then again with the cache warm: rate and peak memory of real content."""
    os.environ["QNABOT_HOME"] = home
    from knowledge.backends import open_knowledge_base
    from knowledge.importer import import_files

    kb = open_knowledge_base(Path(home))
    runs = []
    for run in ("cold", "warm"):
        report = import_files(kb, list(DEMO_FILES))
        questions = sum(len(item.questions) for item in kb.store.iter_items())
        runs.append({"file": "demo", "run": run, "items": report.read, "questions": questions,
                     "seconds": round(report.seconds, 3),
                     "questions_per_s": round(questions / report.seconds),
                     "cache_misses": report.cache_misses, "peak_rss_mb": round(peak_rss_mb())})
    kb.close()  # after the classifier's training: the accuracy child reads its model
    return {"runs": runs}


def child_llm(home: str, api: str, prompts: int) -> dict:
    """A real LLM (``LLM_API=api``): first-token and total latency of rewrite and answer
    prompts, and the LLM quality set through the handler (calls per turn, time per call)."""
    os.environ["QNABOT_HOME"] = home
    os.environ["LLM_API"] = api
    from bench.llm_bench import latency
    from fulfillment.evaluation import ConversationRunner
    from fulfillment.handler import warm_up
    from knowledge.evaluation import load_conversations, summarize

    _quiet_handler_logs()
    result = latency(prompts)
    runner = ConversationRunner.from_environment()
    warm_up()
    outcomes = runner.run(load_conversations(LLM_SET))
    result["quality"] = summarize(outcomes, by_category=False)
    return result


def child_calibration(sizes: list[int], cache: str) -> dict:
    """:func:`bench.calibration_bench.measure` in a process of its own."""
    from bench import calibration_bench

    return {"results": calibration_bench.measure(sizes, cache=Path(cache), log=lambda _: None)}


CHILDREN = {"latency": child_latency, "accuracy": child_accuracy,
            "import_demo": child_import_demo, "llm": child_llm,
            "classifier": child_classifier, "calibration": child_calibration}


# --- the run --------------------------------------------------------------------------------


@dataclass
class Results:
    """Everything one run measured."""

    plan: Plan
    embeddings: str
    machine: dict = field(default_factory=dict)
    sizes: list[dict] = field(default_factory=list)
    cold_start: dict = field(default_factory=dict)
    imports: list[dict] = field(default_factory=list)
    accuracy: dict = field(default_factory=dict)
    llm: dict = field(default_factory=dict)
    classifier: list[dict] = field(default_factory=list)
    calibration: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def kept_home(home: Path, size: int, model_id: str, real_questions: int) -> dict | None:
    """What a knowledge base kept by an earlier run (``--keep``) holds, when it was built
    for the same size, model and real questions; else None."""
    try:
        built = json.loads((home / BUILT).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    wanted = {"size": size, "model": model_id, "real_base": real_questions}
    if any(built.get(key) != value for key, value in wanted.items()):
        return None
    return {k: v for k, v in built.items() if k not in wanted}


def measure(plan: Plan, embeddings_name: str, work: Path, cache: Path = CACHE,
            log=print, llm_api: str = "", keep: Path | None = None) -> Results:
    """Build the knowledge bases (or reuse those kept in ``keep``) and run every measurement
    (a real LLM's with ``llm_api``)."""
    from bench.turn_bench import cold

    results = Results(plan, embeddings_name, machine={
        "cpus": os.cpu_count(), "load_average": round(os.getloadavg()[0], 2),
        "python": platform.python_version(), "platform": platform.platform(terse=True)})
    started = time.perf_counter()
    model = open_model(cache)
    results.machine["model"] = model.model_id

    demo_home = work / "demo"
    log("importing the demo knowledge base ...")
    results.imports = run_child("import_demo", home=str(demo_home))["runs"]
    log(f"accuracy on the demo knowledge base ({embeddings_name} embeddings) ...")
    results.accuracy = run_child("accuracy", home=str(demo_home),
                                 conversations=plan.conversations)
    if llm_api:
        log(f"LLM {llm_api}: latency and the LLM quality set (slow on a CPU model) ...")
        results.llm = run_child("llm", home=str(demo_home), api=llm_api, prompts=3)
    log("accuracy on the second labeled set (its own knowledge base, never tuned on) ...")
    results.accuracy.update(run_child(
        "accuracy", home=str(work / "second"), conversations=plan.conversations,
        splits={k: str(v) for k, v in SECOND_SPLITS.items()},
        files=[str(f) for f in SECOND_FILES]))
    for items in plan.classifier_items:
        log(f"classifier training on {items:,} synthetic items ...")
        results.classifier.append(run_child("classifier", items=items))
    log("calibration: dev and the second set with distractor items ...")
    results.calibration = run_child("calibration", sizes=list(plan.distractors),
                                    cache=str(cache))["results"]

    for size in plan.sizes:
        home = (keep or work) / f"kb-{size}"
        built = kept_home(home, size, model.model_id, plan.real_questions) if keep else None
        if built is None:
            log(f"{size:,} questions: building the knowledge base ...")
            shutil.rmtree(home, ignore_errors=True)
            built = build_home(home, size, model, plan.real_questions)
            (home / BUILT).write_text(json.dumps(
                {**built, "model": model.model_id, "size": size,
                 "real_base": plan.real_questions}), "utf-8")
            log(f"  {built['items']:,} items in {built['build_s']} s; measuring turns ...")
        else:
            log(f"{size:,} questions: reusing {home} (built in {built['build_s']} s) ...")
            for stale in home.glob("embeddings.sqlite*"):  # else this run's turns hit it
                stale.unlink()
        latency = run_child("latency", home=str(home), turns=plan.turns,
                            llm_turns=plan.llm_turns, llm_delay_ms=plan.llm_delay_ms,
                            warm_up_turns=plan.warm_up_turns)
        os.environ["QNABOT_HOME"] = str(home)
        cold_start = cold(home, plan.cold_runs)
        results.sizes.append({**built, **latency, "cold_start": cold_start})
        log(f"  median {latency['no_llm']['median_ms']} ms, p95 {latency['no_llm']['p95_ms']} "
            f"ms; cold start {cold_start['total_ms']:.0f} ms")
    results.cold_start = results.sizes[0]["cold_start"]

    log(f"import throughput ({plan.import_questions:,} distinct questions) ...")
    command = [sys.executable, str(ROOT / "bench" / "import_bench.py"), "--only", "distinct",
               "--distinct", str(plan.import_questions), "--embeddings", embeddings_name,
               "--json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    results.imports += json.loads(done.stdout)
    results.seconds = round(time.perf_counter() - started, 1)
    return results


# --- the report -----------------------------------------------------------------------------


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def markdown(results: Results, command: str) -> str:
    """``bench/results.md``: the figures as markdown tables."""
    plan, machine = results.plan, results.machine
    lines = [
        "# Benchmark results", "",
        f"`{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine['cpus']} CPUs "
        f"(load average {machine['load_average']} at the start), Python {machine['python']}, "
        f"{machine['platform']}; embeddings `{machine['model']}`; {results.seconds:.0f} s in all."
        " Timings are wall-clock on a shared machine: compare them within one run.", "",
        "## Turn latency by knowledge-base size (embedded store, warm, in process)", "",
        f"No LLM: {plan.turns} turns of the dev set per size. With LLM: {plan.llm_turns} turns "
        f"in sessions of {SESSION_CONVERSATIONS} conversations, the scripted test LLM answering "
        f"after {plan.llm_delay_ms:.0f} ms (QA on; a rewrite for every turn with history, "
        "QnABot's rule); overhead = turn time minus LLM calls x delay, on turns that called "
        "it.", "",
        f"Sizes past {plan.real_questions:,} synthetic questions have synthetic vectors beyond "
        "the first ones (*real* column; see `bench/README.md`). *CPU ms*: this process's CPU "
        "time per turn. *store MB*: the SQLite file and its vector indexes; *build s*: "
        "writing them (indexes included).", "",
        "| questions | real | items | store MB | build s | median ms | p95 ms | CPU median ms | "
        "with LLM median ms | with LLM p95 ms | LLM calls/turn | overhead median ms | "
        "peak RSS MB | cold start ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in results.sizes:
        llm = size.get("llm") or {}
        lines.append(
            f"| {size['questions']:,} | {size.get('real_questions', size['questions']):,} | "
            f"{size['items']:,} | {_f(size['store_mb'])} | {_f(size.get('build_s'))} | "
            f"{_f(size['no_llm']['median_ms'])} | {_f(size['no_llm']['p95_ms'])} | "
            f"{_f(size['no_llm'].get('cpu_median_ms'))} | "
            f"{_f(llm.get('median_ms'))} | {_f(llm.get('p95_ms'))} | "
            f"{_f(llm.get('llm_calls_per_turn'), 2)} | {_f(llm.get('overhead_median_ms'))} | "
            f"{size['peak_rss_mb']:,} | {size['cold_start']['total_ms']:,.0f} |")
    lines += ["", "## Cold start (fresh process: import the handler, answer once)", "",
              "| questions | runs | import ms | first answer ms | total ms | CPU ms | "
              "peak RSS MB |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    for size in results.sizes:
        cold = size["cold_start"]
        lines.append(f"| {size['questions']:,} | {cold['runs']} | {cold['import_ms']:,.0f} | "
                     f"{cold['first_answer_ms']:,.0f} | {cold['total_ms']:,.0f} | "
                     f"{_f(cold.get('cpu_ms'), 0)} | {_f(cold.get('peak_rss_mb'), 0)} |")
    lines += ["", "## Import throughput (`qnabot import` path)", "",
              "`demo`: the demo knowledge base (short questions, answers and passages of up to "
              "190 words); `distinct`: synthetic items, one short question each. *embedded*: "
              "texts the model embedded (cache misses).", "",
              "*model floor*: the model alone embedding the same distinct texts in one call, "
              "in the same process; *import/model*: the import's CPU time over the model's.",
              "",
              "| file | run | items | questions | seconds | questions/s | embedded | "
              "peak RSS MB | model floor CPU s | import/model CPU |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run in results.imports:
        floor = run.get("model_cpu_seconds")
        ratio = run["cpu_seconds"] / floor if floor and run.get("cpu_seconds") else None
        lines.append(f"| {run['file']} | {run['run']} | {run['items']:,} | "
                     f"{run['questions']:,} | {run['seconds']:.2f} | "
                     f"{run['questions_per_s']:,} | {run['cache_misses']:,} | "
                     f"{run['peak_rss_mb']:,} | {_f(floor, 2)} | {_f(ratio, 2)} |")
    lines += ["", "## Accuracy (default settings)", "",
              "`dev` and `held-out`: the demo knowledge base (`data/eval/`); `second`: the "
              "Kestrel Home Internet set (`data/second/`), another domain, never tuned on. "
              "Modes are replays of the matcher over recorded evidence (`cosine`: hybrid with "
              "`CLASSIFIER_ENABLE` false); `handler` is `qnabot eval` (every turn through the "
              "fulfillment handler).", "",
              "*suggested*: answerable turns given no answer whose expected item was among "
              "the \"did you mean\" buttons (share of answerable turns: one tap away); "
              "*off-topic offered*: turns that should get no answer that got buttons.", "",
              "| split | matching | turns | accuracy | MRR | wrong answers | no-hit precision | "
              "no-hit recall | handled right | suggested | off-topic offered |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in results.accuracy.items():
        split, mode = name.split("/")
        lines.append(f"| {split} | {mode} | {s['turns']} | {_f(s['accuracy'], 3)} | "
                     f"{_f(s['mrr'], 3)} | {_f(s['wrong_rate'], 3)} | "
                     f"{_f(s['no_hit_precision'], 3)} | {_f(s['no_hit_recall'], 3)} | "
                     f"{_f(s['overall'], 3)} | {_f(s.get('suggested_right'), 3)} | "
                     f"{_f(s.get('off_topic_suggested'), 3)} |")
    lines += llm_markdown(results.llm)
    lines += ["", "## Classifier training (synthetic knowledge bases, 3 questions and an "
              "answer per item, 384 dimensions)", "",
              "Up to 4,096 items every example is trained against every item; above, against "
              "its 24 nearest items.", "",
              "| items | examples | training s | peak RSS MB | model file MB |",
              "|---:|---:|---:|---:|---:|"]
    for run in results.classifier:
        lines.append(f"| {run['items']:,} | {run['examples']:,} | {_f(run['train_s'])} | "
                     f"{run['peak_rss_mb']:,} | {_f(run['model_mb'])} |")
    if results.calibration:
        from bench.calibration_bench import markdown as calibration_markdown

        lines += ["", "## Calibration across knowledge-base sizes (default settings)", "",
                  "Each labeled set against its own knowledge base, then with distractor items "
                  "added (the other set's items, then off-domain FAQ items); see "
                  "`bench/calibration_bench.py`.", "", *calibration_markdown(results.calibration)]
    lines += ["", "![Turn latency against knowledge-base size](latency.png)", ""]
    return "\n".join(lines)


def llm_markdown(llm: dict) -> list[str]:
    """The real LLM's section (or how to get it)."""
    lines = ["", "## A real LLM: latency, calls per turn and their time", ""]
    if not llm:
        return lines + ["Not measured in this run: `BENCH_LLM=LOCAL make bench` (or OPENAI, "
                        "BEDROCK, LAMBDA with their settings) adds it.", ""]
    quality = llm["quality"]
    figures = quality.get("llm") or {}
    per_call = figures.get("llm_ms_per_call") or {}
    lines += [f"{llm['llm']}, {llm['threads']} inference thread(s) for a local model; "
              f"started in {llm['load_s']} s. Streamed calls of the bot's own prompts "
              "(`bench/llm_bench.py`), then `data/eval/llm.jsonl` through the handler with "
              "the default settings.", "",
              "| prompt | calls | first token median ms | total median ms | each call, total ms |",
              "|---|---:|---:|---:|---|"]
    for kind in ("rewrite", "qa"):
        r = llm[kind]
        lines.append(f"| {kind} | {r['calls']} | {_f(r['first_token_median_ms'])} | "
                     f"{_f(r['total_median_ms'])} | {', '.join(map(str, r['total_ms']))} |")
    lines += ["", "| LLM quality set | value |", "|---|---:|",
              f"| turns | {quality['turns']} |",
              f"| LLM calls per turn | {_f(figures.get('llm_calls_per_turn'), 2)} |",
              f"| time per LLM call, median / p95 ms | {_f(per_call.get('median'))} / "
              f"{_f(per_call.get('p95'))} |",
              f"| turn latency median / p95 ms | {_f(quality['latency_ms']['median'])} / "
              f"{_f(quality['latency_ms']['p95'])} |",
              f"| follow-ups answered right | {_f(figures.get('follow_up_hit_rate'), 3)} |",
              f"| self-contained left as they were | "
              f"{_f(figures.get('self_contained_kept'), 3)} |",
              f"| passage answers generated with citations | "
              f"{_f(figures.get('cited_rate'), 3)} |",
              f"| no answer where there is none | {_f(figures.get('no_hit_rate'), 3)} |", ""]
    return lines


def plot(results: Results, path: Path) -> None:
    """``bench/latency.png``: turn latency against knowledge-base size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [s["questions"] for s in results.sizes]
    fig, (left, right, memory) = plt.subplots(1, 3, figsize=(14, 4.2), dpi=110)
    left.plot(sizes, [s["no_llm"]["median_ms"] for s in results.sizes], "-o", label="median")
    left.plot(sizes, [s["no_llm"]["p95_ms"] for s in results.sizes], "-o", label="p95")
    left.plot(sizes, [s["no_llm"].get("cpu_median_ms", 0) for s in results.sizes], "-s",
              label="CPU median")
    left.set_title("Turn without LLM")
    memory.plot(sizes, [s["peak_rss_mb"] for s in results.sizes], "-o",
                label="warm turns, peak RSS")
    memory.plot(sizes, [s["cold_start"].get("peak_rss_mb", 0) for s in results.sizes], "-s",
                label="cold start, peak RSS")
    memory.set_title("Memory")
    with_llm = [s for s in results.sizes if s.get("llm")]
    if with_llm:
        x = [s["questions"] for s in with_llm]
        right.plot(x, [s["llm"]["median_ms"] for s in with_llm], "-o", label="median")
        right.plot(x, [s["llm"]["p95_ms"] for s in with_llm], "-o", label="p95")
        right.plot(x, [s["llm"]["overhead_median_ms"] or 0 for s in with_llm], "-s",
                   label="overhead around LLM (median)")
        right.set_title(f"Turn with a {results.plan.llm_delay_ms:.0f} ms test LLM")
    per_turn = "ms per turn (warm, in process)"
    for axis, unit in ((left, per_turn), (right, per_turn), (memory, "MB")):
        axis.set_xscale("log")
        axis.set_xlabel("distinct questions in the knowledge base")
        axis.set_ylabel(unit)
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle(f"Fulfillment handler latency and memory, embedded store "
                 f"({results.machine['model']})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point (``make bench``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a fast smoke run: two small sizes, few turns")
    parser.add_argument("--embeddings", choices=("local", "hashing"), default="local",
                        help="the local model (default) or the hashing test model")
    parser.add_argument("--out", type=Path, default=ROOT / "bench",
                        help="folder for results.md and latency.png (default bench/)")
    parser.add_argument("--sizes", type=int, nargs="+", help="knowledge-base sizes (questions)")
    parser.add_argument("--cache", type=Path, default=CACHE,
                        help="embedding cache kept between runs (default "
                             "build/bench-cache/embeddings.sqlite)")
    parser.add_argument("--llm", default="", metavar="LLM_API",
                        help="also measure this LLM (LOCAL, OPENAI, BEDROCK, LAMBDA, configured "
                             "by the environment): latency, calls per turn and their time")
    parser.add_argument("--keep", type=Path,
                        help="keep the knowledge bases in this folder and reuse them in later "
                             "runs (the million-question one takes most of a full run)")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(CHILDREN[args.child](**json.loads(args.options))))
        return 0
    for name in ("LLM_API", "USERS_TABLE", "SETTINGS_TABLE", "QNABOT_STORE",
                 "EMBEDDINGS_DIMENSIONS"):
        os.environ.pop(name, None)
    os.environ["EMBEDDINGS_API"] = args.embeddings.upper()
    plan = QUICK if args.quick else Plan()
    if args.sizes:
        plan = replace(plan, sizes=tuple(sorted(args.sizes)))
    command = "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="qnabot-bench-") as folder:
        results = measure(plan, args.embeddings, Path(folder), args.cache,
                          log=lambda text: print(text, file=sys.stderr, flush=True),
                          llm_api=args.llm.strip().upper(), keep=args.keep)
    report = markdown(results, command.strip())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(report, "utf-8")
    plot(results, args.out / "latency.png")
    (args.out / "results.json").write_text(json.dumps(
        {"plan": results.plan.__dict__, "machine": results.machine, "sizes": results.sizes,
         "imports": results.imports, "accuracy": results.accuracy, "llm": results.llm,
         "classifier": results.classifier, "calibration": results.calibration,
         "seconds": results.seconds}, indent=2), "utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
