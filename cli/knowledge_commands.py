"""``qnabot`` commands for the knowledge base: import, export, search, settings, reindex, info.

Every command works on the data under ``QNABOT_HOME`` (default ``./.qnabot``) and on the
backends the environment selects (see :mod:`knowledge.backends`).

Example:
    $ qnabot import blog-samples-final.json TextPassage-NurseryRhymeExamples.json
    read 22, stored 22, rejected 0 in 0.84 s
    $ qnabot search "Where did Humpty Dumpty sit?" --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cli.output import CommandError, print_json, print_table, progress_bar, shorten
from knowledge.backends import (
    ConfigurationError,
    load_settings,
    open_embeddings,
    open_knowledge_base,
    open_settings_repo,
    open_store,
)
from knowledge.embeddings.base import EmbeddingsError
from knowledge.explain import explain_lines, labeled_cost
from knowledge.exporter import export_items
from knowledge.home import qnabot_home
from knowledge.importer import ImportFileError, import_files, open_source
from knowledge.knowledge_base import KnowledgeBase
from knowledge.matching import SearchResult, ThresholdCost
from knowledge.settings import (
    REGISTRY,
    SettingError,
    Settings,
    SettingsUnavailableError,
    close_matches,
    custom_setting,
    lookup,
    validate_updates,
)
from knowledge.settings_transfer import export_settings, parse_settings_file
from knowledge.store import Store

#: Width of the matched-text column of ``qnabot search`` and of values in ``settings list``.
TEXT_WIDTH = 48


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the knowledge-base commands to ``qnabot``."""
    _register_import(subparsers)
    _register_export(subparsers)
    _register_search(subparsers)
    _register_settings(subparsers)
    reindex = subparsers.add_parser(
        "reindex", help="re-embed every item with the configured embeddings model",
        description="Re-embed every item with the configured embeddings model (run it after "
                    "switching models).")
    reindex.set_defaults(func=run_reindex)
    info = subparsers.add_parser("info", help="show the home folder, item counts and the index")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=run_info)


# --- resources ------------------------------------------------------------------------------


@contextmanager
def _knowledge_base(home: Path) -> Iterator[KnowledgeBase]:
    kb = open_knowledge_base(home)
    try:
        yield kb
    finally:
        kb.close()  # after a background retraining saved its model


@contextmanager
def _store(home: Path) -> Iterator[Store]:
    store = open_store(home)
    try:
        yield store
    finally:
        _close(store)


def _close(resource: Any) -> None:
    """Close a backend that holds connections (the ``Store`` port itself has no ``close``)."""
    close = getattr(resource, "close", None)
    if callable(close):
        close()


# --- import -----------------------------------------------------------------------------------


def _register_import(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import", help="import QnABot files ({\"qna\": [...]} or JSON Lines)",
        description="Import QnABot export files ({\"qna\": [...]}, with or without a BOM) or JSON "
                    "Lines (one item per line). All files load in one transaction; an existing "
                    "qid is replaced. Exit status: 0 all items stored, 1 some items rejected, "
                    "2 a file is unreadable (nothing changed).")
    parser.add_argument("files", nargs="+", metavar="FILE", help="files to import")
    parser.add_argument("--replace-all", action="store_true",
                        help="afterwards the knowledge base holds exactly these files' valid "
                             "items (everything else is removed in the same transaction)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run_import)


def _items_in(paths: list[str]) -> int | None:
    """How many items the files hold, for the progress bar (None when no bar is shown or a
    file cannot be read: the import itself reports that)."""
    if not sys.stderr.isatty():
        return None
    try:
        return sum(sum(1 for _ in open_source(path).items()) for path in paths)
    except ImportFileError:
        return None


def run_import(args: argparse.Namespace) -> int:
    """``qnabot import``: problems one per line, warnings, then a summary line."""
    with _knowledge_base(qnabot_home()) as kb, \
            progress_bar("importing", total=_items_in(args.files)) as advance:
        report = import_files(kb, args.files, replace_all=args.replace_all, progress=advance)
    if args.json:
        print_json(report.to_json())
    else:
        for problem in report.problems:
            print(problem)
        for warning in report.warnings:
            print(f"warning: {warning}")
        if report.omitted():
            print(report.omitted())
        print(report.summary())
    return 0 if report.ok else 1


# --- export -----------------------------------------------------------------------------------


def _register_export(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="export the items as a QnABot import file",
        description="Write the items as {\"qna\": [...]} (sorted by qid, without vectors). "
                    "FILE - writes to stdout.")
    parser.add_argument("file", metavar="FILE", help='where to write ("-" for stdout)')
    parser.add_argument("--filter", default="", metavar="TEXT",
                        help="only items whose qid contains TEXT")
    parser.add_argument("--prefix", action="store_true",
                        help="with --filter: only items whose qid starts with TEXT")
    parser.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    """``qnabot export``: the count goes to stderr when the items go to stdout."""
    with _store(qnabot_home()) as store:
        if args.file == "-":
            stream = sys.stdout
            if hasattr(stream, "reconfigure") and (stream.encoding or "").lower() != "utf-8":
                stream.reconfigure(encoding="utf-8")
            count = export_items(store, stream, args.filter, prefix=args.prefix)
            stream.flush()
            print(f"exported {count} items", file=sys.stderr)
        else:
            count = export_items(store, args.file, args.filter, prefix=args.prefix)
            print(f"exported {count} items to {args.file}")
    return 0


# --- search -----------------------------------------------------------------------------------


def _register_search(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "search", help="match a question and show the ranked candidates",
        description="Match a question through the cascade (questions, answers, passages) and "
                    "show each candidate's stage and scores.")
    parser.add_argument("question", metavar="QUESTION")
    parser.add_argument("--topic", default="", help="the session topic (boosts its items)")
    parser.add_argument("--client-filter", default=None, metavar="VALUE",
                        help="the client's filter value (items with clientFilterValues)")
    parser.add_argument("--mode", choices=("hybrid", "embeddings", "keywords"), default=None,
                        help="override the configured matching mode")
    parser.add_argument("--all-stages", action="store_true",
                        help="search every stage even after one passes")
    parser.add_argument("--labeled", type=Path, default=None, metavar="FILE",
                        help="a labeled file (see data/README.md): suggestions say what a "
                             "threshold change would cost on it")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run_search)


def run_search(args: argparse.Namespace) -> int:
    """``qnabot search``: a ranked table, or ``SearchResult.to_json()`` with ``--json``."""
    home = qnabot_home()
    settings = load_settings(open_settings_repo(home))
    with _knowledge_base(home) as kb:
        result = kb.search(args.question, settings, topic=args.topic,
                           client_filter=args.client_filter, mode=args.mode,
                           all_stages=args.all_stages)
        cost = _labeled_cost(kb, args.labeled, settings, result) if args.labeled else None
    if args.json:
        print_json(result.to_json(cost))
        return 0
    rows = [
        [rank, hit.item.qid, hit.stage.value, f"{hit.score:.3f}",
         "-" if hit.confidence is None else f"{hit.confidence:.2f}",
         f"{hit.keyword_score:.2f}", hit.verdict or "no", shorten(hit.matched_text, TEXT_WIDTH)]
        for rank, hit in enumerate(result.candidates, start=1)
    ]
    if rows:
        print_table(["rank", "qid", "stage", "similarity", "confidence", "keyword", "passed",
                     "matched"], rows)
    else:
        print("no candidates")
    if result.degraded:
        print(f"note: {result.degraded}")
    best = result.best
    if best:
        reason = {"exact": "a stored question asked verbatim",
                  "confident": f"confidence {best.confidence or 0:.2f}",
                  }.get(best.verdict, f"similarity {best.score:.3f} >= {best.threshold:g}")
        print(f"best: {best.item.qid} ({best.stage.value}, {reason}, mode {result.mode})")
    else:
        print(f"no hit: no candidate reached its stage's threshold (mode {result.mode})")
    for line in explain_lines(result, result.params, cost) if result.params else ():
        print(f"  {line}")
    return 0


def _labeled_cost(kb: KnowledgeBase, path: Path, settings: Settings,
                  result: SearchResult) -> ThresholdCost:
    """What a confidence-threshold change costs on the labeled file at ``path``."""
    from knowledge.evaluation import load_conversations, record

    recording = record(kb, load_conversations(path), settings, result.mode)
    return labeled_cost(recording, result.params)


# --- settings ---------------------------------------------------------------------------------


def _register_settings(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "settings", help="list, get, set or reset settings",
        description="Settings under QnABot's names; overrides are kept in $QNABOT_HOME.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every setting with its value and default")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument("--category", default="", help="only this category (e.g. Matching)")
    listing.set_defaults(func=run_settings_list)
    get = actions.add_parser("get", help="print a setting's current value")
    get.add_argument("name", metavar="NAME")
    get.set_defaults(func=run_settings_get)
    set_ = actions.add_parser("set", help="override a setting")
    set_.add_argument("name", metavar="NAME")
    set_.add_argument("value", metavar="VALUE", help='the value as text ("" for empty)')
    set_.set_defaults(func=run_settings_set)
    reset = actions.add_parser("reset", help="return a setting (or, without NAME, all of "
                                             "them) to the default")
    reset.add_argument("name", metavar="NAME", nargs="?")
    reset.set_defaults(func=run_settings_reset)
    export = actions.add_parser("export", help="write the settings that differ from their "
                                               "defaults as QnABot's settings.json")
    export.add_argument("file", metavar="FILE", help='the file to write ("-" for stdout)')
    export.set_defaults(func=run_settings_export)
    import_ = actions.add_parser("import", help="set the settings of a QnABot settings.json "
                                                "(the others are kept)")
    import_.add_argument("file", metavar="FILE")
    import_.set_defaults(func=run_settings_import)


def run_settings_list(args: argparse.Namespace) -> int:
    """``qnabot settings list``: ``*`` marks an override."""
    overrides = open_settings_repo(qnabot_home()).overrides()
    settings = Settings.from_overrides(overrides)
    declared = list(REGISTRY.values()) + [custom_setting(name) for name in sorted(overrides)
                                          if name not in REGISTRY]
    if args.category:
        categories = sorted({s.category for s in declared})
        declared = [s for s in declared if s.category.lower() == args.category.lower()]
        if not declared:
            raise CommandError(f'no settings in category "{args.category}"; the categories '
                               f"are {', '.join(categories)}")
    if args.json:
        print_json([
            {"name": s.name, "value": settings.text(s.name), "default": s.default,
             "category": s.category, "type": s.type, "description": s.description,
             "overridden": s.name in overrides}
            for s in declared
        ])
        return 0
    print_table(
        ["", "name", "value", "default", "category"],
        [["*" if s.name in overrides else "", s.name, shorten(settings.text(s.name), TEXT_WIDTH),
          shorten(s.default, TEXT_WIDTH), s.category] for s in declared],
    )
    count = sum(name in REGISTRY for name in overrides)
    custom = len(overrides) - count
    print(f"* = overridden ({count} of {len(REGISTRY)} settings)"
          + (f"; {custom} custom" if custom else ""))
    return 0


def run_settings_get(args: argparse.Namespace) -> int:
    """``qnabot settings get NAME``: the stored text, exactly."""
    settings = load_settings(open_settings_repo(qnabot_home()))
    if args.name in settings.custom():
        print(settings.text(args.name))
        return 0
    print(settings.text(lookup(args.name).name))
    return 0


def run_settings_set(args: argparse.Namespace) -> int:
    """``qnabot settings set NAME VALUE``: validated against the registry before saving."""
    stored = validate_updates({args.name: args.value})
    open_settings_repo(qnabot_home()).save(stored)
    print(f"{args.name} = {stored[args.name]}")
    _warn_custom(stored)
    return 0


def _warn_custom(stored: dict[str, str]) -> None:
    for name in sorted(stored):
        if name not in REGISTRY:
            close = close_matches(name)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            print(f"note: {name} is a custom setting (passed to hooks and templates){hint}",
                  file=sys.stderr)


def run_settings_reset(args: argparse.Namespace) -> int:
    """``qnabot settings reset [NAME]``: drop one override, or all of them."""
    repo = open_settings_repo(qnabot_home())
    if args.name is None:
        try:
            removed = f"removed {len(repo.overrides())} overrides"
        except SettingsUnavailableError:  # a damaged file: resetting is the way out
            removed = "replaced the unreadable settings"
        repo.remove(None)
        print(f"{removed}; every setting has its default")
        return 0
    if args.name in repo.overrides() and args.name not in REGISTRY:
        repo.remove([args.name])
        print(f"{args.name} removed (custom setting)")
        return 0
    setting = lookup(args.name)
    repo.remove([setting.name])
    print(f"{setting.name} = {setting.default} (default)")
    return 0


def run_settings_export(args: argparse.Namespace) -> int:
    """``qnabot settings export FILE``: QnABot's settings.json (what differs from defaults)."""
    exported = export_settings(load_settings(open_settings_repo(qnabot_home())))
    text = json.dumps(exported, indent=2, ensure_ascii=False) + "\n"
    if args.file == "-":
        sys.stdout.write(text)
    else:
        Path(args.file).write_text(text, encoding="utf-8")
        print(f"wrote {len(exported)} settings to {args.file}")
    return 0


def run_settings_import(args: argparse.Namespace) -> int:
    """``qnabot settings import FILE``: set every setting of the file, or none when one is
    wrong (each problem is named)."""
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {args.file}: {exc}") from None
    try:
        stored = parse_settings_file(text, args.file)
    except SettingError as exc:
        raise SettingError(f"{args.file}: nothing imported:\n{exc}") from None
    open_settings_repo(qnabot_home()).save(stored)
    custom = sum(name not in REGISTRY for name in stored)
    print(f"imported {len(stored)} settings from {args.file}"
          + (f" ({custom} custom)" if custom else ""))
    _warn_custom(stored)
    return 0


# --- reindex and info -------------------------------------------------------------------------


def run_reindex(args: argparse.Namespace) -> int:
    """``qnabot reindex``: re-embed every item with the configured model."""
    started = time.perf_counter()
    with _knowledge_base(qnabot_home()) as kb, \
            progress_bar("re-embedding", total=kb.store.count()) as advance:
        count = kb.reindex(on_stored=advance)
        index = kb.index
    print(f"re-embedded {count} items with {index.model_id} ({index.dimension} dimensions) "
          f"in {time.perf_counter() - started:.2f} s")
    return 0


def run_info(args: argparse.Namespace) -> int:
    """``qnabot info``: where the data is, what is in it, and which model indexed it."""
    home = qnabot_home()
    info: dict[str, Any] = {"home": str(home)}
    with _store(home) as store:
        check = getattr(store, "check", None)
        if check is not None:  # the whole file, so damage is reported before any number
            check()
        kinds = Counter(item.kind for item in store.iter_items())
        index = store.index_info()
    info["items"] = {"total": sum(kinds.values()), "qna": kinds["qna"], "text": kinds["text"]}
    info["index"] = {"model_id": index.model_id, "dimension": index.dimension} if index else None
    try:
        embeddings = open_embeddings()
        info["embeddings"] = {"model_id": embeddings.model_id,
                              "dimension": embeddings.dimension}
    except (ConfigurationError, EmbeddingsError) as exc:
        info["embeddings"] = {"error": str(exc)}
    configured = info["embeddings"]
    info["reindex_needed"] = bool(index and configured.get("model_id") is not None and (
        index.model_id, index.dimension) != (configured["model_id"], configured["dimension"]))
    overrides = open_settings_repo(home).overrides()
    info["settings_overrides"] = sum(name in REGISTRY for name in overrides)
    if args.json:
        print_json(info)
        return 0
    items = info["items"]
    print(f"home:        {info['home']}")
    print(f"items:       {items['total']} ({items['qna']} qna, {items['text']} text)")
    print("index:       " + (f"{index.model_id} ({index.dimension} dimensions)" if index
                             else "empty (nothing imported yet)"))
    print("embeddings:  " + (f"{configured['model_id']} ({configured['dimension']} dimensions)"
                             if "model_id" in configured else f"error: {configured['error']}"))
    if info["reindex_needed"]:
        print("             the index was made by another model: run `qnabot reindex`")
    print(f"settings:    {info['settings_overrides']} overridden")
    return 0
