"""A content-hash cache of embeddings, so identical text is never embedded twice.

:class:`CachedEmbeddings` wraps any :class:`~knowledge.embeddings.base.Embeddings` model: it
looks every text up in an :class:`EmbeddingCache`, embeds only the texts it has never seen
(each distinct text once, however often it repeats), stores them, and returns the vectors in
input order. Re-importing unchanged content is then nearly free, and a file whose 70,000
questions hold a few hundred distinct strings embeds only those few hundred.

Entries are keyed by the SHA-256 of the text and scoped by the model id and the input type
("q" or "a"), because both change the vector.

Example:
    >>> import tempfile, pathlib
    >>> from knowledge.embeddings.hashing import HashingEmbeddings
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> cached = CachedEmbeddings(HashingEmbeddings(8), SqliteEmbeddingCache(folder / "c.sqlite"))
    >>> cached.embed(["hi", "hi", "bye"]).shape
    (3, 8)
    >>> cached.stats
    CacheStats(hits=1, misses=2)
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from knowledge.embeddings.base import Embeddings, InputType
from knowledge.private_files import create_private

logger = logging.getLogger(__name__)

#: Texts looked up per ``SELECT ... IN (...)``; well under SQLite's variable limit.
LOOKUP_CHUNK = 500
#: Misses embedded (and stored) per inner call, so an interrupted import keeps its progress.
EMBED_CHUNK = 512
#: Seconds a writer waits for another process's write lock before giving up on the write.
BUSY_TIMEOUT_SECONDS = 30.0


class EmbeddingCache(Protocol):
    """Stored vectors by (model id, input type, text)."""

    def get_many(self, model_id: str, input_type: InputType,
                 texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors of those ``texts`` that are cached (missing texts are left out)."""
        ...

    def put_many(self, model_id: str, input_type: InputType,
                 vectors: Mapping[str, np.ndarray]) -> None:
        """Store ``vectors`` (text -> vector), replacing any earlier entries."""
        ...


def text_key(text: str) -> bytes:
    """The cache key of ``text``: its SHA-256 digest (32 bytes).

    Example:
        >>> len(text_key("How do I reset my password?"))
        32
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    model_id   TEXT NOT NULL,
    input_type TEXT NOT NULL,
    text_hash  BLOB NOT NULL,
    vector     BLOB NOT NULL,
    PRIMARY KEY (model_id, input_type, text_hash)
) WITHOUT ROWID
"""


class SqliteEmbeddingCache:
    """An :class:`EmbeddingCache` in one SQLite file (float32 vectors, WAL mode).

    Safe to share between threads (one connection behind a lock) and between processes
    (WAL, with a busy timeout for writers). Failures never break an import: a corrupt file is
    moved aside and recreated, and a write that cannot be made is logged and skipped.

    Example:
        >>> import tempfile, pathlib
        >>> cache = SqliteEmbeddingCache(pathlib.Path(tempfile.mkdtemp()) / "cache.sqlite")
        >>> cache.put_many("m", "q", {"hi": np.ones(4, dtype=np.float32)})
        >>> cache.get_many("m", "q", ["hi", "bye"])["hi"].tolist()
        [1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._inode: int | None = None
        self._pid = os.getpid()

    def get_many(self, model_id: str, input_type: InputType,
                 texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors of those ``texts`` that are cached."""
        by_key = {text_key(text): text for text in texts}
        keys = list(by_key)
        found: dict[str, np.ndarray] = {}
        with self._lock:
            try:
                connection = self._connect()
                for chunk in _chunks(keys, LOOKUP_CHUNK):
                    marks = ",".join("?" * len(chunk))
                    rows = connection.execute(
                        "SELECT text_hash, vector FROM embeddings WHERE model_id = ? AND "
                        f"input_type = ? AND text_hash IN ({marks})",
                        (model_id, input_type, *chunk),
                    )
                    for text_hash, blob in rows:
                        found[by_key[bytes(text_hash)]] = np.frombuffer(blob, dtype="<f4").copy()
            except (sqlite3.DatabaseError, OSError) as error:
                self._handle(error, "could not read vectors")
                return {}
        return found

    def put_many(self, model_id: str, input_type: InputType,
                 vectors: Mapping[str, np.ndarray]) -> None:
        """Store ``vectors`` (text -> vector); a failed write is logged, not raised."""
        if not vectors:
            return
        rows = [
            (model_id, input_type, text_key(text),
             np.ascontiguousarray(vector, dtype="<f4").tobytes())
            for text, vector in vectors.items()
        ]
        with self._lock:
            try:
                connection = self._connect()
                with connection:
                    connection.executemany(
                        "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)
            except (sqlite3.DatabaseError, OSError) as error:
                self._handle(error, f"could not store {len(rows)} vectors")

    def __len__(self) -> int:
        """How many vectors are stored, over all models."""
        with self._lock:
            return self._connect().execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]

    def close(self) -> None:
        """Close the connection (it reopens on the next call)."""
        with self._lock:
            self._close()

    # -- internals (called with the lock held) ---------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None and self._pid != os.getpid():
            # A forked child must not use its parent's connection (SQLite forbids it); it
            # drops it without closing, which would touch the parent's locks.
            self._connection = None
        if self._connection is None:
            try:
                self._connection = self._open()
            except sqlite3.OperationalError:
                raise  # locked, read-only, no space: nothing a fresh file would fix
            except sqlite3.DatabaseError as error:
                self._move_aside(error)
                self._connection = self._open()
        return self._connection

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        create_private(self.path)
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS,
                                     check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(_SCHEMA)
            connection.execute("SELECT 1 FROM embeddings LIMIT 1").fetchall()
        except sqlite3.DatabaseError:
            connection.close()
            raise
        self._inode = _inode(self.path)
        self._pid = os.getpid()
        return connection

    def _handle(self, error: sqlite3.DatabaseError | OSError, what: str) -> None:
        """A failed read or write: log it, and replace the file if it is corrupt."""
        self._close()
        if isinstance(error, sqlite3.OperationalError | OSError):
            # Locked beyond the timeout, disk full, read-only folder: the vectors are still
            # correct, they just will not be reused next time.
            logger.warning("embedding cache %s: %s (%s)", self.path, what, error)
        elif _inode(self.path) == self._inode:
            self._move_aside(error)
        # else another process has already replaced the corrupt file: just reopen it.

    def _move_aside(self, error: sqlite3.DatabaseError) -> None:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}-{os.getpid()}")
        logger.warning("embedding cache %s is unreadable (%s); moved it to %s and starting an "
                       "empty cache (it is only a cache: vectors are recomputed as needed)",
                       self.path, error, aside)
        for suffix in ("", "-wal", "-shm"):
            source = self.path.with_name(self.path.name + suffix)
            with contextlib.suppress(FileNotFoundError):
                source.replace(aside.with_name(aside.name + suffix))

    def _close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class CacheStats:
    """How many texts were served from the cache (``hits``) or embedded (``misses``).

    A text that repeats within one call counts as a miss once and as a hit after that.
    """

    hits: int = 0
    misses: int = 0


class CachedEmbeddings:
    """An :class:`~knowledge.embeddings.base.Embeddings` that embeds each distinct text once.

    Example:
        >>> from knowledge.embeddings.hashing import HashingEmbeddings
        >>> import tempfile, pathlib
        >>> inner = HashingEmbeddings(8)
        >>> cache = SqliteEmbeddingCache(pathlib.Path(tempfile.mkdtemp()) / "c.sqlite")
        >>> _ = CachedEmbeddings(inner, cache).embed(["hi"])
        >>> _ = CachedEmbeddings(inner, cache).embed(["hi"])
        >>> inner.calls  # the second call was served from the cache
        [(1, 'q')]
    """

    def __init__(self, inner: Embeddings, cache: EmbeddingCache):
        self.inner = inner
        self.cache = cache
        self._stats_lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    @property
    def model_id(self) -> str:
        """The inner model's id: cached vectors are the inner model's vectors."""
        return self.inner.model_id

    @property
    def dimension(self) -> int:
        """The inner model's vector length."""
        return self.inner.dimension

    @property
    def stats(self) -> CacheStats:
        """Hits and misses since creation (or the last :meth:`reset_stats`)."""
        with self._stats_lock:
            return CacheStats(self._hits, self._misses)

    def reset_stats(self) -> None:
        """Start counting hits and misses from zero."""
        with self._stats_lock:
            self._hits = self._misses = 0

    def embed(self, texts: Sequence[str], input_type: InputType = "q") -> np.ndarray:
        """Vectors for ``texts`` in input order; only uncached distinct texts reach the model."""
        model_id, dimension = self.inner.model_id, self.inner.dimension
        distinct = list(dict.fromkeys(texts))
        known = {
            text: vector
            for text, vector in self.cache.get_many(model_id, input_type, distinct).items()
            if vector.shape == (dimension,)  # an entry of another length is stale: re-embed
        }
        missing = [text for text in distinct if text not in known]
        for chunk in _chunks(missing, EMBED_CHUNK):
            vectors = self.inner.embed(list(chunk), input_type)
            fresh = dict(zip(chunk, np.asarray(vectors, dtype=np.float32), strict=True))
            self.cache.put_many(model_id, input_type, fresh)
            known.update(fresh)
        with self._stats_lock:
            self._misses += len(missing)
            self._hits += len(texts) - len(missing)
        out = np.empty((len(texts), dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = known[text]
        return out
