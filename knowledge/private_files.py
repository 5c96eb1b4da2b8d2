"""Data files under ``QNABOT_HOME``: created readable by their owner only, written atomically.

Knowledge bases, caches, settings, feedback and job files can hold what users typed, so every
one is created with mode ``0600`` whatever the process's umask. Whole-file writes go through a
temporary file in the same folder and a rename, and the temporary file is removed when the
write fails (a full disk leaves no stray ``.tmp`` files behind).

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "status.json"
    >>> write_atomically(path, b"{}")
    >>> oct(path.stat().st_mode & 0o777)
    '0o600'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

#: Owner read and write, nobody else.
PRIVATE_MODE = 0o600


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (SQLite then keeps that mode for
    its ``-wal`` and ``-shm`` files)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def open_private_append(path: Path):
    """``path`` opened for appending text (created 0600 when missing)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_MODE)
    return os.fdopen(fd, "a", encoding="utf-8")


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one rename; raises ``OSError`` (e.g. disk full)
    leaving the old file as it was and no temporary file."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
