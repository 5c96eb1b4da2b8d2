"""Importing QnABot files into the knowledge base.

Two file formats are read, told apart by their content rather than their extension:

* QnABot's export format, ``{"qna": [item, ...]}``, with or without a UTF-8 byte-order mark
  (the designer's exports carry one). It is streamed with ``ijson``, so a 100 MB file imports
  in bounded memory.
* JSON Lines: one item per line; blank lines are ignored.
* QnABot's Excel spreadsheets (``.xlsx``), one item per row (:mod:`knowledge.excel_import`);
  problems are located by sheet and row.

Memory stays bounded whatever the file holds: nesting depth and sizes are checked before an
item is built or parsed (:data:`~knowledge.json_limits.MAX_JSON_DEPTH` levels, items of at most
:data:`MAX_ITEM_CHARS`, JSON Lines lines of at most :data:`MAX_LINE_BYTES`); an item over a
limit is reported and skipped like any invalid item, and at most :data:`MAX_KEPT_PROBLEMS`
problems (and warnings) are kept in a report, all of them counted.

Every item is validated with :func:`knowledge.items.parse_item`. An invalid *item* is reported
(one :class:`ItemProblem` per problem, naming the file, the item's position, the line for JSON
Lines, the qid and the field) and skipped; every valid item is stored. An invalid *file*
(missing, a folder, not UTF-8, not JSON, truncated, or of the wrong shape) raises
:class:`ImportFileError` and changes nothing.

All the files of one :func:`import_files` call are loaded in ONE store transaction: valid items
stream, in batches, from the files into :meth:`KnowledgeBase.put_items`, and an unreadable file
raises out of that stream so the store rolls the whole import back. With ``replace_all`` the
knowledge base afterwards holds exactly the valid items of the given files. A qid that occurs
twice in one import is stored once: the later occurrence wins, and a warning names both places.

Example:
    >>> report = import_files(kb, ["blog-samples-final.json"])  # doctest: +SKIP
    >>> report.read, report.stored, report.rejected  # doctest: +SKIP
    (20, 20, 0)
"""

from __future__ import annotations

import codecs
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import ijson

from knowledge.items import InvalidItemError, Item, parse_item
from knowledge.json_limits import MAX_JSON_DEPTH, JsonLimitError, check_nesting
from knowledge.knowledge_base import KnowledgeBase

FileFormat = Literal["export", "jsonl", "xlsx"]

#: Bytes read to tell the two formats apart.
SNIFF_BYTES = 64 * 1024
#: Files up to this size are re-read to give the line and column of a JSON syntax error.
LOCATE_LIMIT_BYTES = 64 * 1024 * 1024
#: Longest line of a JSON Lines file; a longer one is reported as an invalid item, unread.
MAX_LINE_BYTES = 4 * 1024 * 1024
#: Most text (characters of keys and strings, 8 per number or literal) in one item.
MAX_ITEM_CHARS = 2_000_000
#: Problems (and warnings) kept in a report; the rest are counted only.
MAX_KEPT_PROBLEMS = 1000

_EXPORT_START = re.compile(r'\{\s*"qna"\s*:')
_OTHER_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}
_SHAPE_HINT = ('QnABot import files are either {"qna": [ ...items... ]} (the designer\'s export '
               "format) or JSON Lines (one item per line)")


class ImportFileError(Exception):
    """A file that cannot be imported at all; nothing was changed.

    The message names the file, the line and column where known, what is wrong and what to do.

    Example:
        >>> str(ImportFileError("faq.json", "the file is empty", hint="export it again"))
        'cannot import faq.json: the file is empty; export it again'
    """

    def __init__(self, file: str, problem: str, *, line: int | None = None,
                 column: int | None = None, hint: str = ""):
        self.file, self.problem, self.line, self.column, self.hint = (
            file, problem, line, column, hint)
        where = file
        if line is not None:
            where += f" (line {line}" + (f", column {column})" if column is not None else ")")
        super().__init__(f"cannot import {where}: {problem}" + (f"; {hint}" if hint else ""))


@dataclass(frozen=True)
class ItemProblem:
    """One problem with one item of an import file.

    ``position`` is the item's 1-based index in the file; ``line`` its line number in a JSON
    Lines file (None in the export format, where items span many lines).

    Example:
        >>> str(ItemProblem("faq.jsonl", 2, 3, "Bad.001", "a", "must not be blank"))
        'faq.jsonl:3 qid=Bad.001 a: must not be blank'
    """

    file: str
    position: int
    line: int | None
    qid: str | None
    field: str
    message: str

    @property
    def location(self) -> str:
        """``FILE:LINE`` for JSON Lines, ``FILE:POSITION`` for the export format."""
        return f"{self.file}:{self.line if self.line is not None else self.position}"

    def __str__(self) -> str:
        return f"{self.location} qid={show_qid(self.qid)} {self.field}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def show_qid(qid: str | None) -> str:
    """A qid as a problem line shows it: quoted when blank or holding spaces, ``-`` if absent.

    Example:
        >>> show_qid("A.1"), show_qid("a b"), show_qid(""), show_qid(None)
        ('A.1', '"a b"', '""', '-')
    """
    if qid is None:
        return "-"
    if not qid or any(ch.isspace() for ch in qid):
        return json.dumps(qid, ensure_ascii=False)
    return qid


@dataclass
class ImportReport:
    """What an import did. ``stored`` counts distinct qids written (a repeated qid once)."""

    files: list[str]
    replace_all: bool = False
    read: int = 0
    stored: int = 0
    rejected: int = 0
    problems: list[ItemProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problem_count: int = 0
    warning_count: int = 0
    seconds: float = 0.0
    cache_hits: int | None = None
    cache_misses: int | None = None

    @property
    def ok(self) -> bool:
        """True when every item read was stored."""
        return self.rejected == 0

    def add_problem(self, problem: ItemProblem) -> None:
        """Count ``problem``; keep it if fewer than :data:`MAX_KEPT_PROBLEMS` are kept."""
        self.problem_count += 1
        if len(self.problems) < MAX_KEPT_PROBLEMS:
            self.problems.append(problem)

    def add_warning(self, warning: str) -> None:
        """Count ``warning``; keep it if fewer than :data:`MAX_KEPT_PROBLEMS` are kept."""
        self.warning_count += 1
        if len(self.warnings) < MAX_KEPT_PROBLEMS:
            self.warnings.append(warning)

    def omitted(self) -> str:
        """A line saying how many problems and warnings were counted but not kept ('' if none)."""
        problems = self.problem_count - len(self.problems)
        warnings = self.warning_count - len(self.warnings)
        if not problems and not warnings:
            return ""
        return (f"... and {problems} more problems and {warnings} more warnings (the first "
                f"{MAX_KEPT_PROBLEMS} of each are shown)")

    def summary(self) -> str:
        """One line for people, e.g. ``read 20, stored 20, rejected 0 in 0.31 s``."""
        line = (f"read {self.read}, stored {self.stored}, rejected {self.rejected} "
                f"in {self.seconds:.2f} s")
        if self.cache_hits is not None:
            line += f" (embedding cache: {self.cache_hits} hits, {self.cache_misses} misses)"
        return line

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON (for ``qnabot import --json`` and the designer)."""
        return {
            "files": list(self.files),
            "replace_all": self.replace_all,
            "read": self.read,
            "stored": self.stored,
            "rejected": self.rejected,
            "problems": [p.to_json() for p in self.problems],
            "warnings": list(self.warnings),
            "problem_count": self.problem_count,
            "warning_count": self.warning_count,
            "seconds": round(self.seconds, 3),
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
        }


# --- reading files ------------------------------------------------------------------------


@dataclass(frozen=True)
class RawItem:
    """One item as read from a file, before validation.

    ``error`` is set (and ``value`` is None) when a JSON Lines line is not valid JSON.
    """

    position: int
    line: int | None
    value: Any
    error: str = ""
    sheet: str = ""  # the worksheet of a spreadsheet row


@dataclass(frozen=True)
class ImportSource:
    """A checked import file: its path, its format and whether it starts with a BOM."""

    path: Path
    format: FileFormat
    bom: bool

    @property
    def name(self) -> str:
        return str(self.path)

    def items(self) -> Iterator[RawItem]:
        """The file's items in order; raises :class:`ImportFileError` if the file is broken."""
        if self.format == "export":
            return _read_export(self)
        if self.format == "xlsx":
            return _read_workbook(self)
        return _read_json_lines(self)


def open_source(path: str | os.PathLike[str]) -> ImportSource:
    """Check that ``path`` is a readable import file and detect its format.

    The format comes from the content: after an optional BOM, a ``{`` followed by a ``"qna"``
    key is the export format; lines that each hold one JSON object are JSON Lines.

    Example:
        >>> open_source("blog-samples-final.json").format  # doctest: +SKIP
        'export'
    """
    path = Path(path)
    name = str(path)
    if path.is_dir():
        raise ImportFileError(name, "is a folder, not a file", hint="name the JSON file inside it")
    try:
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except FileNotFoundError:
        raise ImportFileError(name, "no such file", hint="check the path") from None
    except OSError as exc:
        raise ImportFileError(name, f"cannot be read ({exc.strerror or exc})",
                              hint="check the file's permissions") from None
    for bom, encoding in _OTHER_BOMS.items():
        if head.startswith(bom):
            raise ImportFileError(name, f"is {encoding} text, not UTF-8",
                                  hint="save it as UTF-8 and import it again")
    if head.startswith(b"PK\x03\x04"):
        if _is_workbook(path):
            return ImportSource(path, "xlsx", False)
        raise ImportFileError(name, "is a ZIP file, not JSON or an Excel workbook",
                              hint="export the items as JSON from the content designer")
    has_bom = head.startswith(codecs.BOM_UTF8)
    body = head[len(codecs.BOM_UTF8):] if has_bom else head
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(body, final=len(head) < SNIFF_BYTES)
    except UnicodeDecodeError as exc:
        line, column = _line_and_column(body, exc.start)
        raise _not_utf8(name, line, column) from None
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        raise ImportFileError(name, "is empty", hint=_SHAPE_HINT)
    line, column = _line_and_column(text, len(text) - len(stripped))
    first = stripped[0]
    if first == "[":
        raise ImportFileError(name, "is a JSON list, which QnABot does not import", line=line,
                              column=column, hint=_SHAPE_HINT)
    if first != "{":
        raise ImportFileError(name, f"is not JSON (it starts with {stripped[:12]!r})", line=line,
                              column=column, hint=_SHAPE_HINT)
    return ImportSource(path, _detect_format(stripped), has_bom)


def _detect_format(text: str) -> FileFormat:
    """``text`` starts with ``{``: the export format, unless its first line is a whole object
    without a ``"qna"`` key (a JSON Lines item).

    A first line that is not complete JSON on its own means one multi-line document, which is
    read (and, if it has no ``"qna"`` list, refused) as the export format; unless the second
    line is a whole item, which makes it JSON Lines whose first line is broken.
    """
    if _EXPORT_START.match(text):
        return "export"
    first_line, newline, rest = text.partition("\n")
    if not newline and len(text.encode("utf-8")) >= SNIFF_BYTES - 4:
        return "export"  # a first line longer than the sniffed head: not a JSON Lines item
    if _is_item_line(first_line):
        return "jsonl"
    second_line = next((line for line in rest.split("\n") if line.strip()), "")
    return "jsonl" if _is_item_line(second_line) else "export"


def _is_item_line(line: str) -> bool:
    """True when ``line`` alone is a JSON object that is not an export (no ``"qna"`` key)."""
    try:
        value = json.loads(line)
    except ValueError:
        return False
    return isinstance(value, dict) and "qna" not in value


def _line_and_column(text: str | bytes, offset: int) -> tuple[int, int]:
    newline = "\n" if isinstance(text, str) else b"\n"
    line = text.count(newline, 0, offset) + 1
    return line, offset - (text.rfind(newline, 0, offset) + 1) + 1


def _not_utf8(name: str, line: int, column: int) -> ImportFileError:
    return ImportFileError(name, "is not UTF-8 text", line=line, column=column,
                           hint="save it as UTF-8 and import it again")


def _is_workbook(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _read_workbook(source: ImportSource) -> Iterator[RawItem]:
    from knowledge.excel_import import ExcelFileError, read_workbook

    try:
        for position, (sheet, row, item) in enumerate(read_workbook(source.path), start=1):
            yield RawItem(position, row, item, sheet=sheet)
    except ExcelFileError as exc:
        raise ImportFileError(source.name, str(exc),
                              hint="save it again from Excel as .xlsx") from None


def _lines(handle: BinaryIO) -> Iterator[bytes | None]:
    """The file's lines; None for a line over :data:`MAX_LINE_BYTES`, which is skipped unread
    (in bounded pieces), so one endless line cannot fill memory."""
    while True:
        line = handle.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield line
            continue
        while line and not line.endswith(b"\n"):
            line = handle.readline(1024 * 1024)
        yield None


def _read_json_lines(source: ImportSource) -> Iterator[RawItem]:
    position = 0
    with open(source.path, "rb") as handle:
        for line_number, raw_line in enumerate(_lines(handle), start=1):
            if raw_line is None:
                position += 1
                yield RawItem(position, line_number, None,
                              f"is longer than {MAX_LINE_BYTES} bytes: an item is far shorter")
                continue
            if line_number == 1 and source.bom:
                raw_line = raw_line[len(codecs.BOM_UTF8):]
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _not_utf8(source.name, line_number, exc.start + 1) from None
            if not line.strip():
                continue
            position += 1
            try:
                check_nesting(raw_line, what="the item")
                value = json.loads(line)
            except JsonLimitError as exc:
                yield RawItem(position, line_number, None, str(exc))
                continue
            except json.JSONDecodeError as exc:
                yield RawItem(position, line_number, None,
                              f"is not valid JSON: {exc.msg} (column {exc.colno})")
                continue
            yield RawItem(position, line_number, value)


def _read_export(source: ImportSource) -> Iterator[RawItem]:
    with open(source.path, "rb") as handle:
        if source.bom:
            handle.read(len(codecs.BOM_UTF8))
        try:
            yield from _walk_export(handle, source.name)
        except ijson.JSONError as exc:
            raise _syntax_error(source, exc) from None


_OPEN = ("start_map", "start_array")
_CLOSE = ("end_map", "end_array")


def _walk_export(handle: BinaryIO, name: str) -> Iterator[RawItem]:
    """Stream the elements of the top-level ``"qna"`` list, one built object at a time.

    Events come from ``ijson.basic_parse`` (no prefix strings, whose total length grows with
    the square of the depth), and depth and size are counted here: an item nested deeper than
    :data:`MAX_JSON_DEPTH` or holding more than :data:`MAX_ITEM_CHARS` is skipped unbuilt and
    reported as an invalid item.
    """
    found_qna = in_qna = False
    other_keys: list[str] = []
    key: str | None = None
    builder: ijson.ObjectBuilder | None = None
    too_big = ""  # why the current item is being skipped
    depth = position = size = 0
    for event, value in ijson.basic_parse(handle, use_float=True):
        if event in _CLOSE:
            depth -= 1
            if builder is not None:
                builder.event(event, value)
            if in_qna and depth == 2 and (builder is not None or too_big):
                yield RawItem(position, None, None if too_big else builder.value, too_big)
                builder, too_big = None, ""
            elif in_qna and depth == 1:
                in_qna = False  # the end of the "qna" list
            continue
        if in_qna and depth == 2:  # the first event of the next item
            position += 1
            builder, size = ijson.ObjectBuilder(), 0
        if builder is not None:
            size += len(value) if isinstance(value, str) else 8
            if size > MAX_ITEM_CHARS:
                builder, too_big = None, f"holds more than {MAX_ITEM_CHARS} characters"
            else:
                builder.event(event, value)
        elif depth == 1 and event == "map_key":
            key = value
            if value != "qna" and len(other_keys) < 5:
                other_keys.append(value)
        elif depth == 1 and key == "qna":
            if event != "start_array":
                raise ImportFileError(name, f'"qna" must be a list of items, not '
                                            f"{_json_kind(event)}", hint=_SHAPE_HINT)
            found_qna = in_qna = True
        if event in _OPEN:
            depth += 1
            if not in_qna and depth > MAX_JSON_DEPTH:
                raise ImportFileError(name, f"is nested more than {MAX_JSON_DEPTH} levels deep "
                                            'outside its "qna" list', hint=_SHAPE_HINT)
            if in_qna and depth - 2 > MAX_JSON_DEPTH and not too_big:
                builder, too_big = None, f"is nested more than {MAX_JSON_DEPTH} levels deep"
        elif in_qna and depth == 2 and (builder is not None or too_big):  # a scalar item
            yield RawItem(position, None, None if too_big else builder.value, too_big)
            builder, too_big = None, ""
    if not found_qna:
        keys = ", ".join(f'"{k}"' for k in other_keys) or "none"
        raise ImportFileError(name, f'has no "qna" list (its top-level keys: {keys})',
                              hint=_SHAPE_HINT)


def _json_kind(event: str) -> str:
    return {"start_map": "an object", "string": "text", "number": "a number",
            "boolean": "true/false", "null": "null"}.get(event, event)


def _syntax_error(source: ImportSource, error: ijson.JSONError) -> ImportFileError:
    """An :class:`ImportFileError` for broken JSON, with line and column where we can find them."""
    detail = error.args[0] if error.args else str(error)
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    detail = detail.splitlines()[0] if detail else "invalid JSON"
    line = column = None
    try:
        small = source.path.stat().st_size <= LOCATE_LIMIT_BYTES
        data = source.path.read_bytes() if small else b""
    except OSError:
        small, data = False, b""
    if small:
        data = data[len(codecs.BOM_UTF8):] if source.bom else data
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _not_utf8(source.name, *_line_and_column(data, exc.start))
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            line, column, detail = exc.lineno, exc.colno, exc.msg
            if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated"):
                detail = "premature EOF"
    if "premature EOF" in detail or "incomplete" in detail.lower():
        return ImportFileError(source.name, "the JSON ends too early: the file looks truncated",
                               line=line, column=column,
                               hint="export or download it again, then re-import")
    return ImportFileError(source.name, f"is not valid JSON ({detail})", line=line, column=column,
                           hint="fix the JSON or export the file again")


# --- importing ----------------------------------------------------------------------------


def import_files(kb: KnowledgeBase, paths: Sequence[str | os.PathLike[str]], *,
                 replace_all: bool = False,
                 progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import QnABot files into ``kb`` in one transaction and report what happened.

    Every file is checked before anything is written. ``progress`` is called with the number
    of items just processed (stored or rejected), for a progress bar such as ``tqdm.update``.
    Raises :class:`ImportFileError` (with nothing changed) when a file is unreadable.

    Example:
        >>> import_files(kb, ["faq.json", "passages.jsonl"], replace_all=True)  # doctest: +SKIP
        ImportReport(files=['faq.json', 'passages.jsonl'], replace_all=True, read=22, ...)
    """
    sources = [open_source(path) for path in paths]
    report = ImportReport(files=[source.name for source in sources], replace_all=replace_all)
    stats_before = _cache_stats(kb.embeddings)
    started = time.perf_counter()
    # qid -> (index of its file, its line or position): small, so 100,000s of qids fit.
    kept: dict[str, tuple[int, int]] = {}

    def where(place: tuple[int, int]) -> str:
        return f"{sources[place[0]].name}:{place[1]}"

    def valid_items() -> Iterator[Item]:
        for number, source in enumerate(sources):
            for raw in source.items():
                report.read += 1
                item = _validate(source, raw, report)
                if item is None:
                    report.rejected += 1
                    if progress:
                        progress(1)
                    continue
                here = (number, raw.line if raw.line is not None else raw.position)
                if item.qid in kept:
                    report.add_warning(
                        f'qid "{item.qid}" occurs more than once ({where(kept[item.qid])} and '
                        f"{where(here)}); the later one ({where(here)}) is kept")
                kept[item.qid] = here
                yield item

    kb.put_items(valid_items(), replace_all=replace_all, on_stored=progress)
    report.stored = len(kept)
    report.seconds = time.perf_counter() - started
    stats_after = _cache_stats(kb.embeddings)
    if stats_before is not None and stats_after is not None:
        report.cache_hits = stats_after[0] - stats_before[0]
        report.cache_misses = stats_after[1] - stats_before[1]
    return report


def _validate(source: ImportSource, raw: RawItem, report: ImportReport) -> Item | None:
    """The item, or None after adding its problems to ``report``."""
    name = f"{source.name}[{raw.sheet}]" if raw.sheet else source.name

    def problem(qid: str | None, field_name: str, message: str) -> ItemProblem:
        return ItemProblem(name, raw.position, raw.line, qid, field_name, message)

    if raw.error:
        report.add_problem(problem(None, "item", raw.error))
        return None
    try:
        return parse_item(raw.value)
    except InvalidItemError as exc:
        for each in exc.problems:
            report.add_problem(problem(exc.qid, each.field, each.message))
        return None


def _cache_stats(embeddings: object) -> tuple[int, int] | None:
    """(hits, misses) when the embeddings are cached (see ``CachedEmbeddings.stats``)."""
    stats = getattr(embeddings, "stats", None)
    if stats is None or not hasattr(stats, "hits"):
        return None
    return stats.hits, stats.misses
