"""``qnabot eval``: answer quality of the bot on labeled conversations, through the handler.

Example:
    $ qnabot eval data/eval/dev.jsonl --min-accuracy 0.8
    $ qnabot eval data/eval/dev.jsonl data/eval/heldout.jsonl --split-report --json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from cli.chat_commands import turn_logs_to_stderr
from cli.output import print_json, print_table, progress_bar, shorten
from fulfillment.evaluation import ConversationRunner, EvalReport
from fulfillment.handler import warm_up
from fulfillment.llm import describe_llm
from knowledge.evaluation import Conversation, TurnOutcome, load_conversations

DESCRIPTION = """\
Asks every conversation of the labeled FILE(s) through the fulfillment Lambda handler, as
Amazon Lex would, and reports answer quality.

How it runs: each conversation gets a new Lex session; each turn is the Lex V2 event Lex
sends (make_event) with the session attributes of the previous response, so topic follow-ups
and LLM rewrites behave as users get them. The bot is the one configured now: the knowledge
base and settings in $QNABOT_HOME (or the configured AWS backends), the embeddings model and
the LLM of the environment (EMBEDDINGS_API, LLM_API).

FILE format (JSON Lines, see data/README.md), one conversation a line:
  {"id": "c1", "category": "follow_up", "turns": [
     {"q": "where does the blue line go", "expect": {"qid": "BlueLine.Route"}},
     {"q": "can I bring my bike on it?", "expect": {"qid": "BlueLine.Bikes"}}]}
"expect" is {"qid": ...} (a QnA item), {"source": "text", "qid": ...} (a passage),
{"source": "kendra"}, or {"no_answer": true}.

Figures: accuracy (top-1 on answerable turns), MRR of the expected qid among the
candidates of the turn's search, wrong-answer rate (answered with something else, over all
turns), no-hit precision and recall, overall (share of all turns handled right), latency
median and p95 (ms per turn, in process), LLM calls per turn, per category and per topic
(the expected item's topic).

Turns may carry "llm" checks of the generative features (data/eval/llm.jsonl does):
{"rewrite": true} a follow-up needing the history, scored by its retrieval hit;
{"rewrite": false} a self-contained question the LLM must not rewrite; {"cite": true} an
answer generated from the expected passage with citations. They are scored in an "LLM"
table, with the LLM calls per turn and their time, for whichever LLM_API is configured
(LOCAL, OPENAI, BEDROCK, LAMBDA), so models can be compared on the same set.

Exit status: 0; 1 when accuracy is below --min-accuracy; 2 for an unusable file."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval`` to the ``qnabot`` command."""
    parser = subparsers.add_parser(
        "eval", help="measure answer quality on labeled conversations (through the handler)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE",
                        help="labeled conversations (JSON Lines)")
    parser.add_argument("--json", action="store_true",
                        help="print the figures and every turn as JSON")
    parser.add_argument("--min-accuracy", type=float, metavar="X",
                        help="exit with status 1 when accuracy (all files together) is below X "
                             "(0..1)")
    parser.add_argument("--split-report", action="store_true",
                        help="also report each FILE on its own (e.g. dev and held-out splits)")
    parser.add_argument("--misses", type=int, default=10, metavar="N",
                        help="wrong turns listed in the table (default 10; 0 for none)")
    parser.add_argument("--verbose", action="store_true",
                        help="print the handler's turn log records on stderr")
    parser.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    """``qnabot eval``: load, run through the handler, report, check the accuracy bar."""
    if args.min_accuracy is not None and not 0 <= args.min_accuracy <= 1:
        from cli.output import CommandError

        raise CommandError(f"--min-accuracy must be between 0 and 1, not {args.min_accuracy}")
    splits = {str(path): load_conversations(path) for path in args.files}
    conversations = [c for group in splits.values() for c in group]
    from fulfillment.metrics import NullMetricsSink, set_metrics_sink

    set_metrics_sink(NullMetricsSink())  # evaluation turns are not users' questions
    runner = ConversationRunner.from_environment()
    llm = describe_llm(runner.service_llm())
    with turn_logs_to_stderr(args.verbose):
        warm_up()  # start a local LLM before the first turn, not during it
    turns = sum(len(c.turns) for c in conversations)
    with turn_logs_to_stderr(args.verbose), \
            progress_bar("evaluating", " turns", total=turns) as advance:
        report = runner.evaluate(conversations, on_turn=lambda _: advance(1))
    split_reports = _splits(report, splits) if args.split_report else {}
    summary = report.summary()
    accuracy = summary["accuracy"]
    passed = args.min_accuracy is None or (accuracy or 0.0) >= args.min_accuracy
    if args.json:
        print_json({
            "files": list(splits), "model": runner.recorder.kb.embeddings.model_id,
            "llm": llm,
            "summary": summary,
            "splits": {name: r.summary() for name, r in split_reports.items()},
            "min_accuracy": args.min_accuracy, "passed": passed,
            "turns": [_turn_json(o) for o in report.outcomes],
        })
    else:
        _print_report(report, summary, split_reports, runner, args, sys.stdout, llm)
        if not passed:
            print(f"\nFAILED: accuracy {accuracy} is below --min-accuracy {args.min_accuracy}",
                  file=sys.stderr)
    return 0 if passed else 1


def _splits(report: EvalReport,
            splits: dict[str, list[Conversation]]) -> dict[str, EvalReport]:
    """The report of each file, from the turns of its conversations (run order is file order)."""
    reports, start = {}, 0
    for name, group in splits.items():
        count = sum(len(c.turns) for c in group)
        reports[name] = EvalReport(report.outcomes[start:start + count], report.topics)
        start += count
    return reports


def _turn_json(outcome: TurnOutcome) -> dict[str, Any]:
    expected = outcome.expected
    return {
        "conversation": outcome.conversation_id, "category": outcome.category,
        "question": outcome.question,
        "expected": {"no_answer": True} if expected.no_answer else
        {"qid": expected.qid, "source": expected.source},
        "qid": outcome.qid, "source": outcome.source, "score": outcome.score,
        "correct": outcome.correct, "reciprocal_rank": round(outcome.reciprocal_rank, 4),
        "candidates": outcome.ranked_qids[:10], "latency_ms": outcome.latency_ms,
        "llm_calls": outcome.llm_calls, "llm_ms": outcome.llm_ms,
        "rewritten": outcome.rewritten, "generated": outcome.generated,
        "citations": outcome.citations, "suggested": list(outcome.suggested),
    }


def _figure(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


METRICS = (("accuracy", "accuracy (answerable turns, top-1)"), ("mrr", "MRR of expected qid"),
           ("wrong_rate", "wrong answers (share of all turns)"),
           ("no_hit_precision", "no-hit precision"), ("no_hit_recall", "no-hit recall"),
           ("overall", "handled right (share of all turns)"),
           ("suggested_right", "not answered, right item suggested (answerable)"),
           ("off_topic_suggested", "no-answer turns offered suggestions"))


def _metric_rows(summaries: dict[str, dict]) -> list[list[str]]:
    rows = [["turns", *(str(s["turns"]) for s in summaries.values())],
            ["answerable turns", *(str(s["answerable"]) for s in summaries.values())]]
    rows += [[label, *(_figure(s[key]) for s in summaries.values())] for key, label in METRICS]
    rows.append(["latency median / p95 (ms)", *(
        f"{s['latency_ms']['median']:.1f} / {s['latency_ms']['p95']:.1f}"
        if "latency_ms" in s else "-" for s in summaries.values())])
    rows.append(["LLM calls per turn", *(_figure(s.get("llm_calls_per_turn"), 2)
                                         for s in summaries.values())])
    return rows


def _llm_rows(figures: dict) -> list[list[str]]:
    timing = figures.get("llm_ms_per_call")
    return [
        ["follow-ups answered right (rewrite's retrieval hit)",
         f"{_figure(figures['follow_up_hit_rate'])} of {figures['follow_ups']} "
         f"({figures['follow_ups_rewritten']} rewritten)"],
        ["self-contained questions left as they were",
         f"{_figure(figures['self_contained_kept'])} of {figures['self_contained']}"],
        ["passage answers generated with citations",
         f"{_figure(figures['cited_rate'])} of {figures['cite_turns']}"],
        ["no answer where the content has none",
         f"{_figure(figures['no_hit_rate'])} of {figures['no_answer_turns']}"],
        ["LLM calls per turn", _figure(figures["llm_calls_per_turn"], 2)],
        ["time per LLM call, median / p95 (ms)",
         f"{timing['median']:.0f} / {timing['p95']:.0f}" if timing else "-"],
    ]


def _print_report(report: EvalReport, summary: dict, splits: dict[str, EvalReport],
                  runner: ConversationRunner, args: argparse.Namespace, out: TextIO,
                  llm: str = "") -> None:
    conversations = len({o.conversation_id for o in report.outcomes})
    print(f"{summary['turns']} turns in {conversations} conversations through the fulfillment "
          f"handler (embeddings {runner.recorder.kb.embeddings.model_id}, LLM {llm})\n",
          file=out)
    columns = {"all": summary, **{name: r.summary() for name, r in splits.items()}}
    print_table(["figure", *columns], _metric_rows(columns), file=out)
    if summary.get("llm"):
        print("\nLLM", file=out)
        print_table(["figure", "value"], _llm_rows(summary["llm"]), file=out)

    print("\nBy category", file=out)
    print_table(["category", "turns", "accuracy", "wrong", "handled right"], [
        [name, s["turns"], _figure(s["accuracy"]), _figure(s["wrong_rate"]),
         _figure(s["overall"])]
        for name, s in report.by_category().items()], file=out)

    print("\nBy topic (of the expected item)", file=out)
    print_table(["topic", "turns", "accuracy", "MRR", "wrong", "handled right"], [
        [topic, s["turns"], _figure(s["accuracy"]), _figure(s["mrr"]), _figure(s["wrong_rate"]),
         _figure(s["overall"])]
        for topic, s in summary["by_topic"].items()], file=out)

    misses = [o for o in report.outcomes if not o.correct]
    if args.misses > 0 and misses:
        print(f"\nWrong turns ({min(args.misses, len(misses))} of {len(misses)})", file=out)
        print_table(["conversation", "question", "expected", "answered", "score"], [
            [o.conversation_id, shorten(o.question, 48),
             "no answer" if o.expected.no_answer else o.expected.qid or o.expected.source,
             o.qid or ("no answer" if not o.answered else o.source)
             + (" (suggested)" if o.expected.qid and o.expected.qid in o.suggested else ""),
             _figure(o.score)]
            for o in misses[:args.misses]], file=out)

