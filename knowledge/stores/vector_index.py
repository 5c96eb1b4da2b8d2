"""Approximate nearest-neighbour index of one search field's vectors, in files beside the store.

The embedded store (:mod:`knowledge.stores.sqlite_store`) keeps every vector in its SQLite file;
past :data:`INDEX_MIN_ROWS` rows a field is searched through an HNSW graph (usearch, cosine
metric, half-precision vectors) kept in a file of its own. That file is a derived cache that is
always safe to use, whatever happened to it:

* row ids are never reused (the store allocates them from a counter that only grows), so a key
  in an index names the same vector for ever;
* an index covers the rows up to its *high-water mark*, the largest row id when it was written,
  which is part of the file name; rows written since (the *delta*) are scanned exactly; keys
  whose rows were deleted since are dropped when they are looked up;
* a new file is written under a temporary name, flushed and renamed, so a crash leaves the old
  file or the new one, never half of one; an unreadable file is deleted and rebuilt from the
  SQLite rows.

Who writes the files: a writer extends them after its own commit, and waits for
:func:`maintenance_lock` to do so. A reader never builds: when it finds an index missing,
unreadable or due for repair it starts a background repair if :func:`try_maintenance_lock`
gets the lock (another process holding it is already at it), and searches meanwhile with what
exists, at a bounded cost (:data:`DELTA_SCAN_MAX_ROWS`).

Files are opened memory-mapped (usearch's ``view``), so opening one reads nothing up front and
the pages a search touches are shared by every process serving the same store.

Example:
    >>> index = build_index([(np.arange(3), np.eye(3, 8, dtype=np.float32))], 8)
    >>> saved = save_index(index, tmp_path / "kb.sqlite", "questions", high=2)  # doctest: +SKIP
    >>> saved.search(np.eye(1, 8, dtype=np.float32)[0], 1)[0]  # doctest: +SKIP
    array([0], dtype=uint64)
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

logger = logging.getLogger(__name__)

#: Fields with fewer rows than this are scanned exactly (a scan of 20,000 vectors of 384
#: dimensions costs about 2 ms); larger ones get an index.
INDEX_MIN_ROWS = 20_000
#: Rows written after the index (scanned exactly) before they are added to it.
DELTA_MAX_ROWS = 10_000
#: Share of an index's keys whose rows are gone above which it is rebuilt, not extended.
DEAD_SHARE_REBUILD = 0.25
#: While an index is being repaired in the background (or has not been written yet), a search
#: scans at most this many of the newest rows written after it exactly (30 MB and a few ms for
#: 384 dimensions, about the cost of a field just below :data:`INDEX_MIN_ROWS`). Older rows of
#: a larger delta (all rows past these, when there is no usable index at all) are found only
#: by their keywords, rescored exactly, until the repair is done: a question worded unlike any
#: of them misses them. Never less than :data:`DELTA_MAX_ROWS`, so a healthy index's delta is
#: always scanned whole.
DELTA_SCAN_MAX_ROWS = 20_000
#: Seconds before a background repair that failed (a full disk, say) is tried again.
REPAIR_RETRY_SECONDS = 60.0
#: HNSW graph: links per node, candidate list while adding, and while searching. Measured with
#: ``bench/index_bench.py --real 1000000 --demo`` (real MiniLM vectors of the benchmark's
#: questions; queries never in the index): for questions like the stored ones, recall@10
#: against exact search is 0.999 at 20,000 and 100,000 rows and 0.991 at 1,000,000 (1.4 ms a
#: search). Known weak spot: a small topic far from the bulk (the demo's 338 questions, stored
#: first, asked by the dev set) gets 0.977, 0.78 and 0.42: a greedy walk that starts in the
#: bulk stops there, the graph linking into the topic by few edges. Tried: 32 links per node
#: and a list of 1,024 reach 0.75 at 1,000,000 (twice the build, more memory); searching again
#: with a list of 2,048 when the nearest row found is below 0.6 lifts 100,000 to 0.97, but most
#: of such a topic's questions need it and a turn's CPU grows by 60% (median 14 ms instead
#: of 8-9 at 100,000; exact search, recall 1.0: 12 ms and 350 MB more memory). Keyword
#: candidates, rescored exactly, make up for most of it in the default hybrid matching: at
#: 100,000 real rows the dev set is answered right as often as by exact search (0.577), with
#: 4.6% wrong answers instead of 3.7% (embeddings alone: 0.416 vs 0.524).
CONNECTIVITY = 16
EXPANSION_ADD = 64
EXPANSION_SEARCH = 256
#: Vectors are stored in half precision: half the memory, the same recall on these vectors.
DTYPE = "f16"
#: Vectors added to an index per call while building (bounded memory).
BUILD_CHUNK = 50_000
#: usearch threads while building (0: every core).
BUILD_THREADS = 0
#: Chunks of fewer vectors are added on one thread: a parallel build differs from run to run
#: (the order threads link nodes in), one thread gives the same graph every time, and below
#: this size threads save little (a few seconds at most).
PARALLEL_BUILD_MIN = 10_000

_NAME = re.compile(r"^(?P<stem>.+)\.(?P<field>[a-z]+)\.(?P<high>\d+)\.usearch$")


@dataclass
class AnnIndex:
    """One field's index as read from its file: the graph and the rows it covers."""

    index: object  # usearch.index.Index (imported lazily: it is only needed for big stores)
    high: int  # the largest row id it covers
    path: Path | None = None

    @property
    def size(self) -> int:
        """How many keys the index holds (dead ones included)."""
        return len(self.index)  # type: ignore[arg-type]

    def search(self, vector: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The keys of (about) the ``count`` nearest vectors and their cosine similarities,
        best first."""
        if self.size == 0 or count <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        matches = self.index.search(vector, min(count, self.size), threads=1)  # type: ignore[attr-defined]
        return (np.asarray(matches.keys, dtype=np.int64),
                1.0 - np.asarray(matches.distances, dtype=np.float32))

    def keys(self) -> np.ndarray:
        """Every key the index holds."""
        return np.asarray(self.index.keys, dtype=np.int64)  # type: ignore[attr-defined]


def _usearch_index() -> type:
    """usearch's ``Index`` class, imported on first use (only big stores need it).

    onnxruntime (1.31) crashes the process (SIGSEGV) when it is imported after usearch's
    extension (2.26), which happens when a search of a big store comes before the first
    embedding; importing onnxruntime first, when it is installed, avoids it.
    """
    with contextlib.suppress(ImportError):
        import onnxruntime  # noqa: F401
    from usearch.index import Index

    return Index


def _new_index(dimension: int):
    Index = _usearch_index()  # noqa: N806
    return Index(ndim=dimension, metric="cos", dtype=DTYPE, connectivity=CONNECTIVITY,
                 expansion_add=EXPANSION_ADD, expansion_search=EXPANSION_SEARCH)


def index_files(store_path: Path, field: str) -> list[tuple[int, Path]]:
    """The index files of ``field`` beside ``store_path``, newest (highest mark) first."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(store_path.parent):
            match = _NAME.match(entry.name)
            if match and match["stem"] == store_path.name and match["field"] == field:
                found.append((int(match["high"]), Path(entry.path)))
    return sorted(found, reverse=True)


def open_index(store_path: Path, field: str, dimension: int) -> AnnIndex | None:
    """The newest readable index of ``field``, memory-mapped; None when there is none.

    A file that cannot be read (or holds vectors of another dimension) is deleted: the caller
    rebuilds it from the store.
    """
    for high, path in index_files(store_path, field):
        try:
            return _view(path, high, dimension)
        except FileNotFoundError:
            continue  # replaced by a newer one meanwhile
        except Exception as exc:  # noqa: BLE001 - any unreadable file is rebuilt, never fatal
            logger.warning("vector index %s is unreadable (%s); it will be rebuilt", path, exc)
            with contextlib.suppress(OSError):
                path.unlink()
    return None


#: Index files mapped by this process, by (path, inode, mtime): every store on the same file
#: shares one mapping, so its pages count once in the process's memory.
_VIEWS: weakref.WeakValueDictionary[tuple, AnnIndex] = weakref.WeakValueDictionary()
_VIEWS_LOCK = threading.Lock()


def _view(path: Path, high: int, dimension: int) -> AnnIndex:
    """The index file at ``path`` memory-mapped (shared with this process's other stores)."""
    status = path.stat()
    key = (str(path), status.st_ino, status.st_mtime_ns)
    with _VIEWS_LOCK:
        viewed = _VIEWS.get(key)
        if viewed is None:
            index = _usearch_index().restore(path, view=True)
            if index is None or index.ndim != dimension:
                raise ValueError(f"not an index of {dimension}-dimension vectors")
            index.expansion_search = EXPANSION_SEARCH
            viewed = _VIEWS[key] = AnnIndex(index, high, path)
    if viewed.index.ndim != dimension:  # type: ignore[attr-defined]
        raise ValueError(f"not an index of {dimension}-dimension vectors")
    return viewed


def build_index(chunks: Iterable[tuple[np.ndarray, np.ndarray]], dimension: int,
                base: AnnIndex | None = None, dead: np.ndarray | None = None):
    """A writable index holding ``base`` (when given) less the ``dead`` keys, plus ``chunks``
    of (row ids, unit vectors)."""
    Index = _usearch_index()  # noqa: N806

    if base is not None and base.path is not None:
        index = Index.restore(base.path, view=False)
        index.expansion_search = EXPANSION_SEARCH
        if dead is not None and len(dead):
            index.remove(dead.astype(np.uint64))
    else:
        index = _new_index(dimension)
    for ids, vectors in chunks:
        if len(ids):
            threads = BUILD_THREADS if len(ids) >= PARALLEL_BUILD_MIN else 1
            index.add(ids.astype(np.uint64), vectors, threads=threads)
    return index


def save_index(index, store_path: Path, field: str, high: int) -> AnnIndex:
    """Write ``index`` as the newest index of ``field`` (covering row ids up to ``high``),
    atomically, remove older files, and return it memory-mapped."""

    final = store_path.parent / f"{store_path.name}.{field}.{high:012d}.usearch"
    temporary = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    # Saves run under the maintenance lock, so any other temporary file of the store is what a
    # process that died while saving left behind.
    for leftover in store_path.parent.glob(f".{store_path.name}.{field}.*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()
    try:
        index.save(str(temporary))
        with contextlib.suppress(OSError):  # as private as the store's own file
            os.chmod(temporary, store_path.stat().st_mode & 0o777)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()
    with contextlib.suppress(OSError):
        directory = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    for _, older in index_files(store_path, field):
        if older != final:
            with contextlib.suppress(OSError):
                older.unlink()
    return _view(final, high, index.ndim)


def remove_index_files(store_path: Path, field: str) -> None:
    """Delete every index file of ``field`` (the field became small enough to scan)."""
    for _, path in index_files(store_path, field):
        with contextlib.suppress(OSError):
            path.unlink()


class MaintenanceLock:
    """The held lock of a store's index maintenance (see :func:`try_maintenance_lock`)."""

    def __init__(self, handle: BinaryIO):
        self._handle = handle

    def release(self) -> None:
        """Let another thread or process maintain the indexes (idempotent)."""
        if not self._handle.closed:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()


def try_maintenance_lock(store_path: Path, *, wait: bool = False) -> MaintenanceLock | None:
    """The store's maintenance lock, or None when another thread or process holds it (unless
    ``wait``). Held per open file, so it may be taken in one thread and released in another.

    Example:
        >>> lock = try_maintenance_lock(tmp_path / "kb.sqlite")  # doctest: +SKIP
        >>> if lock is not None:  # doctest: +SKIP
        ...     lock.release()
    """
    lock_path = store_path.parent / f"{store_path.name}.index-lock"
    handle = os.fdopen(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600), "r+b")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        handle.close()
        return None
    except BaseException:
        handle.close()
        raise
    return MaintenanceLock(handle)


@contextlib.contextmanager
def maintenance_lock(store_path: Path) -> Iterator[None]:
    """Only one process builds or extends the indexes of a store at a time (waits for it)."""
    lock = try_maintenance_lock(store_path, wait=True)
    assert lock is not None  # waiting always ends holding it
    try:
        yield
    finally:
        lock.release()
