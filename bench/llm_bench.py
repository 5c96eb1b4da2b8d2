"""First-token and total latency of the configured LLM for the rewrite and the answer prompts.

The prompts are the bot's own (the settings' templates, filled the way the pipeline fills
them): rewrites of follow-ups from ``data/eval/llm.jsonl`` with their conversation so far, and
answers from the demo passages. Each prompt is sent once streamed (time to the first text and
to the end) through :func:`fulfillment.llm.base.generate_within`, as the pipeline does, with a
generous time limit so slow models are measured rather than cut off.

The LLM is the environment's (``LLM_API`` ...); with none, the embedded model (``LOCAL``) when
it is installed. A local model runs on ``LLM_LOCAL_THREADS`` threads (default: half the cores).

Usage::

    .venv/bin/python -m bench.llm_bench [--prompts 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from fulfillment.llm import LLMError, describe_llm, generate_within, open_llm
from fulfillment.llm.base import Prompt
from fulfillment.memory import ChatMessage
from fulfillment.pipeline import with_llm_defaults
from fulfillment.prompts import ContextPassage, fit_qa_prompt, rewrite_prompt
from knowledge.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
#: Time limit for one measured call: long enough to measure a slow CPU model.
LIMIT_SECONDS = 120.0


def rewrite_prompts(settings: Settings, count: int) -> list[Prompt]:
    """Rewrite prompts of the follow-ups of the LLM quality set, with their history."""
    prompts = []
    for line in (ROOT / "data" / "eval" / "llm.jsonl").read_text("utf-8").splitlines():
        turns = json.loads(line)["turns"]
        for index, turn in enumerate(turns):
            if (turn.get("llm") or {}).get("rewrite") is True and len(prompts) < count:
                history = []
                for earlier in turns[:index]:
                    history += [ChatMessage("user", earlier["q"]),
                                ChatMessage("assistant", "(the bot's answer)")]
                fitted = rewrite_prompt(settings.get("LLM_GENERATE_QUERY_PROMPT_TEMPLATE"),
                                        history, turn["q"],
                                        settings.get("LLM_PROMPT_MAX_TOKEN_LIMIT"))
                prompts.append(Prompt(fitted.text,
                                      settings.get("LLM_GENERATE_QUERY_SYSTEM_PROMPT"),
                                      settings.get("LLM_GENERATE_QUERY_MODEL_PARAMS")))
    return prompts


def qa_prompts(settings: Settings, count: int) -> list[Prompt]:
    """Answer prompts: a passage question of the quality set with its demo passage."""
    passages = {item["qid"]: item for item in json.loads(
        (ROOT / "data" / "demo" / "hct-passages.json").read_text("utf-8"))["qna"]}
    prompts = []
    for line in (ROOT / "data" / "eval" / "llm.jsonl").read_text("utf-8").splitlines():
        for turn in json.loads(line)["turns"]:
            qid = (turn.get("expect") or {}).get("qid")
            if (turn.get("llm") or {}).get("cite") and qid in passages and len(prompts) < count:
                system = settings.get("LLM_QA_SYSTEM_PROMPT")
                fitted = fit_qa_prompt(
                    settings.get("LLM_QA_PROMPT_TEMPLATE"),
                    passages=[ContextPassage(passages[qid]["passage"], qid)], history=[],
                    query=turn["q"], user_input=turn["q"],
                    max_tokens=settings.get("LLM_PROMPT_MAX_TOKEN_LIMIT"), system=system)
                prompts.append(Prompt(fitted.text, system, settings.get("LLM_QA_MODEL_PARAMS")))
    return prompts


def measure(llm, prompts: list[Prompt], settings: Settings) -> dict:
    """Streamed calls: first-text and total milliseconds of each, and their medians."""
    firsts, totals, errors = [], [], []
    for prompt in prompts:
        started = time.perf_counter()
        try:
            generation = generate_within(llm, prompt, LIMIT_SECONDS, settings,
                                         on_text=lambda _: None)
        except LLMError as exc:
            errors.append(str(exc))
            continue
        totals.append((time.perf_counter() - started) * 1000)
        firsts.append(generation.first_text_ms or totals[-1])
    return {
        "calls": len(prompts), "errors": errors,
        "first_token_ms": [round(v) for v in firsts], "total_ms": [round(v) for v in totals],
        "first_token_median_ms": round(statistics.median(firsts)) if firsts else None,
        "total_median_ms": round(statistics.median(totals)) if totals else None,
    }


def latency(prompts: int = 3, environ: dict[str, str] | None = None) -> dict:
    """Start the environment's LLM (the local model when none is configured) and measure
    ``prompts`` rewrite and answer prompts; raises :class:`LLMError` when it cannot start."""
    environ = dict(os.environ if environ is None else environ)
    if (environ.get("LLM_API") or "DISABLED").upper() == "DISABLED":
        environ["LLM_API"] = "LOCAL"
    llm = open_llm(environ)
    settings = with_llm_defaults(Settings.defaults(), llm)  # what the pipeline would use
    started = time.perf_counter()
    start = getattr(llm, "start", None)
    if callable(start):
        start(settings)
    return {"llm": describe_llm(llm), "load_s": round(time.perf_counter() - started, 1),
            "threads": environ.get("LLM_LOCAL_THREADS", "default"),
            "rewrite": measure(llm, rewrite_prompts(settings, prompts), settings),
            "qa": measure(llm, qa_prompts(settings, prompts), settings)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=3, help="prompts of each kind (3)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        result = latency(args.prompts)
    except LLMError as exc:
        print(f"no LLM to measure: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"LLM: {result['llm']} (started and primed in {result['load_s']} s)")
        for kind in ("rewrite", "qa"):
            r = result[kind]
            print(f"  {kind:8s} first token median {r['first_token_median_ms']} ms "
                  f"{r['first_token_ms']}, total median {r['total_median_ms']} ms "
                  f"{r['total_ms']}, errors {len(r['errors'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
