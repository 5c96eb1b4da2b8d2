"""How many LLM rewrite calls the "needs context?" check saves on the dev set.

QnABot asks the LLM to rewrite every question that has chat history (except protected
utterances and ``QID::`` questions). We also skip questions that stand on their own
(:func:`knowledge.followups.needs_context`). This script replays the conversations of
``data/eval/dev.jsonl`` through :func:`fulfillment.query_rewrite.decide` both ways and counts:

* rewrite calls with QnABot's rules and with ours, and the calls saved;
* follow-up turns we skip (``follow_up`` conversations, second turn on: a rewrite might have
  helped them) and standalone turns we still send (calls that were not needed);
* the latency saved, as calls saved x ``--llm-ms`` (the time of one rewrite call; no LLM is
  called here, so pass the figure you measure for your model), and the check's own cost.

Two replays: each dev conversation as its own session (as written), and sessions of
``--session-size`` consecutive conversations (a user asking several things in one chat, so
most questions have history).

Usage::

    .venv/bin/python -m bench.rewrite_bench [--dev data/eval/dev.jsonl] [--llm-ms 600]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from fulfillment.memory import ChatMessage
from fulfillment.query_rewrite import decide
from knowledge.followups import needs_context
from knowledge.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def load_turns(path: Path) -> list[list[tuple[str, bool]]]:
    """Conversations as lists of (question, is_follow_up_turn)."""
    conversations = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            data = json.loads(line)
            conversations.append([(turn["q"], data["category"] == "follow_up" and n > 0)
                                  for n, turn in enumerate(data["turns"])])
    return conversations


def replay(sessions: list[list[tuple[str, bool]]], settings: Settings) -> dict:
    counts = {"turns": 0, "with_history": 0, "qnabot_calls": 0, "our_calls": 0,
              "follow_ups_skipped": 0, "follow_ups": 0, "standalone_sent": 0}
    for session in sessions:
        history: list[ChatMessage] = []
        for question, follow_up in session:
            counts["turns"] += 1
            counts["with_history"] += bool(history)
            counts["follow_ups"] += follow_up
            qnabot = decide(question, history, settings, llm_enabled=True, smart_skip=False)
            ours = decide(question, history, settings, llm_enabled=True)
            counts["qnabot_calls"] += qnabot.ask
            counts["our_calls"] += ours.ask
            if qnabot.ask and not ours.ask and follow_up:
                counts["follow_ups_skipped"] += 1
            if ours.ask and not follow_up:
                counts["standalone_sent"] += 1
            history += [ChatMessage("user", question), ChatMessage("assistant", "...")]
    counts["calls_saved"] = counts["qnabot_calls"] - counts["our_calls"]
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev", type=Path, default=ROOT / "data" / "eval" / "dev.jsonl")
    parser.add_argument("--llm-ms", type=float, default=600.0,
                        help="time of one rewrite call in ms (default 600)")
    parser.add_argument("--session-size", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    conversations = load_turns(args.dev)
    settings = Settings.defaults()
    chained = [sum(conversations[i:i + args.session_size], [])
               for i in range(0, len(conversations), args.session_size)]
    report = {"as_written": replay(conversations, settings),
              f"sessions_of_{args.session_size}": replay(chained, settings)}
    questions = [q for conversation in conversations for q, _ in conversation]
    started = time.perf_counter()
    for question in questions:
        needs_context(question)
    check_us = (time.perf_counter() - started) * 1e6 / len(questions)
    report["check_us_per_question"] = check_us
    for counts in report.values():
        if isinstance(counts, dict):
            counts["latency_saved_ms_total"] = counts["calls_saved"] * args.llm_ms
            counts["latency_saved_ms_per_turn"] = (counts["calls_saved"] * args.llm_ms
                                                   / counts["turns"])
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name, c in report.items():
        if not isinstance(c, dict):
            continue
        print(f"{name}: {c['turns']} turns, {c['with_history']} with history; rewrite calls "
              f"QnABot {c['qnabot_calls']} -> ours {c['our_calls']} (saved {c['calls_saved']}, "
              f"{100 * c['calls_saved'] / max(c['qnabot_calls'], 1):.0f}%); follow-up turns "
              f"skipped {c['follow_ups_skipped']}/{c['follow_ups']}; standalone turns still "
              f"sent {c['standalone_sent']}; latency saved {c['latency_saved_ms_total']:.0f} ms "
              f"in all, {c['latency_saved_ms_per_turn']:.0f} ms per turn at {args.llm_ms:.0f} "
              f"ms a call")
    print(f"the check itself: {check_us:.1f} us per question")
    return 0


if __name__ == "__main__":
    sys.exit(main())
