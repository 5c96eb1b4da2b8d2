"""`qnabot tune`: sweep the matching thresholds on a labeled file and recommend settings."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cli.output import progress_bar
from knowledge.backends import load_settings, open_knowledge_base, open_settings_repo
from knowledge.evaluation import load_conversations, record
from knowledge.matching import MatchParams
from knowledge.settings import validate_updates
from knowledge.tuning import DEFAULTS_CHOSEN_AT_WRONG_RATE, SweepPoint, sweep_size, tune


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``tune`` to the ``qnabot`` command."""
    parser = subparsers.add_parser(
        "tune", help="sweep matching thresholds on a labeled file and recommend settings",
        description="Replays every question of FILE (labeled JSON Lines, see data/README.md) "
                    "under many thresholds and keyword weights, shows the trade-off between "
                    "right and wrong answers, and recommends settings for a target rate of "
                    "wrong answers. Searches each question once; works for any embeddings model.")
    parser.add_argument("file", type=Path, help="labeled conversations (JSON Lines)")
    parser.add_argument("--max-wrong-rate", type=float, default=DEFAULTS_CHOSEN_AT_WRONG_RATE,
                        help="largest acceptable share of wrong answers (default "
                             f"{DEFAULTS_CHOSEN_AT_WRONG_RATE}, the rate the shipped defaults were "
                             "chosen at)")
    parser.add_argument("--plot", type=Path, help="write the trade-off as a PNG chart")
    parser.add_argument("--apply", action="store_true", help="store the recommended settings")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    parser.set_defaults(func=run_tune)


def _row(label: str, point: SweepPoint) -> str:
    s, p = point.summary, point.params
    return (f"{label:<12} {point.question_threshold:>9.3f} {point.passage_threshold:>8.3f} "
            f"{p.keyword_weight:>7.2f} {p.topic_boost:>6.2f} "
            f"{p.confidence_threshold:>10.2f} {p.none_similarity:>5.2f} "
            f"{s['overall']:>8.3f} {s['accuracy']:>8.3f} {s['wrong_rate']:>6.3f} "
            f"{s['no_hit_precision'] or 0:>7.3f} {s['no_hit_recall'] or 0:>7.3f}")


def run_tune(args: argparse.Namespace) -> int:
    """Record once, sweep, print the frontier and the recommendation, optionally apply it."""
    repo = open_settings_repo()
    settings = load_settings(repo)
    kb = open_knowledge_base()
    conversations = load_conversations(args.file)
    kb.train_classifier()  # evaluate the classifier the turns would use
    turns = sum(len(c.turns) for c in conversations)
    with progress_bar("searching", " turns", total=turns) as advance:
        recording = record(kb, conversations, settings, on_progress=advance)
    with progress_bar("replaying", " settings", total=sweep_size(recording.mode)) as advance:
        tuning = tune(recording, MatchParams.from_settings(settings),
                      max_wrong_rate=args.max_wrong_rate, on_progress=advance)
    current, points, best, edge = (tuning.current, tuning.points, tuning.recommended,
                                   tuning.frontier)
    if args.plot:
        plot_tradeoff(points, edge, current, best, args.plot)
    if args.apply:
        repo.save(validate_updates(best.settings()))
    if args.json:
        print(json.dumps({"current": current.to_json(), "recommended": best.to_json(),
                          "frontier": [p.to_json() for p in edge], "points": len(points),
                          "applied": args.apply}, indent=2))
        return 0
    print(f"{len(points)} settings tried on {current.summary['turns']} turns "
          f"of {args.file} with {kb.embeddings.model_id}\n")
    print(f"{'':<12} {'question':>9} {'passage':>8} {'keyword':>7} {'topic':>6} "
          f"{'confidence':>10} {'none':>5} {'overall':>8} {'accuracy':>8} {'wrong':>6} "
          f"{'nohit-P':>7} {'nohit-R':>7}")
    for point in edge:
        print(_row("frontier", point))
    print()
    print(_row("current", current))
    print(_row("recommended", best))
    print(f"\nRecommended for at most {args.max_wrong_rate:.1%} wrong answers:")
    for name, value in best.settings().items():
        print(f"  qnabot settings set {name} {value}")
    if args.apply:
        print("Applied.")
    if args.plot:
        print(f"Chart: {args.plot}")
    return 0


def plot_tradeoff(points: list[SweepPoint], edge: list[SweepPoint], current: SweepPoint,
                  best: SweepPoint, path: Path) -> None:
    """Right answers against wrong answers for every point, the frontier highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    ax.scatter([p.summary["wrong_rate"] for p in points], [p.summary["overall"] for p in points],
               s=6, alpha=0.25, color="#8aa", label="settings tried")
    ax.plot([p.summary["wrong_rate"] for p in edge], [p.summary["overall"] for p in edge],
            "-o", ms=3, color="#0a6", label="best for each wrong-answer rate")
    for point, label, color in ((current, "current", "#c60"), (best, "recommended", "#06c")):
        ax.scatter([point.summary["wrong_rate"]], [point.summary["overall"]], s=90, color=color,
                   zorder=5, label=f"{label}: confidence {point.params.confidence_threshold:g}, "
                                   f"none {point.params.none_similarity:g}")
    ax.set_xlabel("answered wrongly (share of all turns)")
    ax.set_ylabel("handled right (share of all turns)")
    ax.set_title("Matching thresholds: right answers against wrong answers")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path}", file=sys.stderr)
