"""Small printing helpers shared by the ``qnabot`` commands.

Commands print their results on stdout and user errors on stderr; tables are plain aligned
text so they read well in a terminal and survive copy-paste.

Example:
    >>> print_table(["qid", "score"], [["Alexa.001", "0.91"]])
    qid        score
    ---------  -----
    Alexa.001  0.91
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO


class CommandError(Exception):
    """A user error found by a command itself (bad argument combination, unknown category).

    ``qnabot`` prints the message as ``qnabot: error: <message>`` and exits with status 2.
    """


def print_json(value: Any, file: TextIO | None = None) -> None:
    """Print ``value`` as indented JSON, non-ASCII characters kept."""
    print(json.dumps(value, indent=2, ensure_ascii=False), file=file or sys.stdout)


def shorten(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis.

    Example:
        >>> shorten("Tell me about\\nthe Echo Show", 16)
        'Tell me about t…'
    """
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: max(width - 1, 0)] + "…"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                file: TextIO | None = None) -> None:
    """Print ``rows`` as left-aligned columns under ``headers`` and a rule."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(header)] + [len(row[i]) for row in cells]) for i, header in
              enumerate(headers)]
    out = file or sys.stdout
    for row in [list(headers), ["-" * width for width in widths], *cells]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip(), file=out)


@contextmanager
def progress_bar(description: str, unit: str = " items",
                 total: int | None = None) -> Iterator[Callable[[int], Any]]:
    """A callable that advances a tqdm bar on stderr, shown only when stderr is a terminal.

    Example:
        >>> with progress_bar("importing") as advance:
        ...     advance(10)
    """
    from tqdm import tqdm

    interactive = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    with tqdm(desc=description, unit=unit, total=total, file=sys.stderr, disable=not interactive,
              leave=False, dynamic_ncols=True) as bar:
        yield bar.update
