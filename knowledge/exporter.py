"""Exporting the knowledge base as a QnABot import file.

:func:`export_items` writes ``{"qna": [...]}``: each item's QnABot JSON (no vectors), sorted by
qid, UTF-8, indented by 2, non-ASCII characters kept as they are. It is exactly what
``json.dumps({"qna": items}, indent=2, ensure_ascii=False)`` gives, plus a final newline, but
written one item at a time so a large knowledge base never sits in memory as one string.

Writing to a path is atomic (a temporary file in the same folder, then ``os.replace``): a
reader sees the old file or the complete new one. Importing an export into an empty home and
exporting again gives a byte-identical file.

Example:
    >>> export_items(store, "backup.json")  # doctest: +SKIP
    22
    >>> export_items(store, sys.stdout, qid_filter="Alexa")  # doctest: +SKIP
    3
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from knowledge.items import Item
from knowledge.store import Store

#: Items fetched per page when a filter is given.
PAGE_SIZE = 500
_INDENT = " " * 4  # items sit two levels deep: {"qna": [ item ]}


def export_items(store: Store, destination: str | os.PathLike[str] | TextIO,
                 qid_filter: str = "", *, prefix: bool = False) -> int:
    """Write the items whose qid contains ``qid_filter`` (or, with ``prefix``, starts with it).

    ``destination`` is a path (written atomically) or an open text stream. Returns how many
    items were written.
    """
    items = _selected_items(store, qid_filter, prefix)
    if hasattr(destination, "write"):
        return write_export(items, destination)  # type: ignore[arg-type]
    return _write_atomically(Path(destination), items)


def write_export(items: Iterable[Item], out: TextIO) -> int:
    """Write ``items`` in QnABot's export format to ``out``; return how many were written."""
    count = 0
    for item in items:
        body = json.dumps(item.to_json(), indent=2, ensure_ascii=False)
        out.write(('{\n  "qna": [\n' if count == 0 else ",\n")
                  + "\n".join(_INDENT + line for line in body.split("\n")))
        count += 1
    out.write('{\n  "qna": []\n}\n' if count == 0 else "\n  ]\n}\n")
    return count


def _selected_items(store: Store, qid_filter: str, prefix: bool) -> Iterator[Item]:
    if not qid_filter:
        yield from store.iter_items()
        return
    offset = 0
    while True:
        page = store.list(qid_filter=qid_filter, prefix=prefix, offset=offset, limit=PAGE_SIZE)
        yield from page.items
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return


def _write_atomically(path: Path, items: Iterable[Item]) -> int:
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} does not exist")
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            count = write_export(items, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, _mode_for(path))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return count


def _mode_for(path: Path) -> int:
    """Keep an existing file's permissions; a new export is readable by all, like ``open``."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o644
