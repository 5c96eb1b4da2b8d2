"""The embedded default :class:`~knowledge.store.Store`: one SQLite file, FTS5 and numpy.

Items, questions, answers/passages and their float32 vectors live in one SQLite file (WAL
mode) under ``QNABOT_HOME``. Keyword search uses FTS5 with BM25. Vector search depends on the
size of the search field:

* below ``index_min_rows`` texts (:data:`~knowledge.stores.vector_index.INDEX_MIN_ROWS`,
  20,000), an exact dot product over an in-memory matrix, loaded lazily;
* from there on, an HNSW index in a file beside the store
  (:mod:`knowledge.stores.vector_index`: usearch, memory-mapped), plus an exact scan of the
  rows written since it was last extended. Candidates are then rescored exactly from their
  own rows, and nothing per row is held in Python, so a million questions load in
  milliseconds. The index is extended by each write after its commit; it can never disagree
  with the rows, only lag behind them.

A search never builds an index (a million rows take most of an hour). One that finds it
missing, unreadable, more than ``DELTA_MAX_ROWS`` behind or full of deleted rows starts a
repair on a background thread (one per store; across processes the one that gets the
maintenance lock, the others keep serving and look again on their next search) and answers
with what exists meanwhile: the stale index plus an exact scan of at most
``DELTA_SCAN_MAX_ROWS`` of the newest rows written since, or, with no usable index, those
newest rows and the keyword candidates, rescored exactly (a warning in the log says so). The
first search after the repair saved its file uses it. :meth:`SqliteStore.close` abandons a
repair at its next step; saves are atomic, so an abandoned or killed repair leaves no partial
file.

What is in memory is reloaded when a generation counter in the file changes (any writer, in
any process, bumps it).

Tables:

* ``items``: qid, type, topic, normalised ``clientFilterValues``, the item's JSON;
* ``questions``: one row per question of a QnA item (qid, ordinal, text, vector);
* ``answers``: one row per item, ``field`` ``answers`` (QnA answer) or ``passages`` (text item);
* ``questions_fts``, ``answers_fts``, ``passages_fts``: FTS5 indexes over those texts;
* ``meta``: the embeddings model of the vectors and the generation counter;
* ``id_floor``: the largest row id ever given out per table (ids are never reused).

Search: the query's words are OR-ed as quoted FTS5 strings (user text is never FTS syntax);
BM25 is computed by FTS5 for the matching texts and mapped to items (in memory, or in a big
field only for the best ``LIMIT`` rows). In a big field, words found in more than 5% of the
texts, or in more than :data:`MAX_WORD_ROWS`, are not searched: they add almost nothing to
BM25 and would make every search score most of the texts; when every word of the query is
that common, texts holding all of them are searched. Vector scores are the best cosine over an
item's texts (``np.maximum.reduceat`` over rows grouped by item); top-k by ``argpartition``.

Writes: :meth:`SqliteStore.put` writes items in batches of :data:`WRITE_BATCH`, a few
``executemany`` statements per batch; items whose JSON and vectors are already stored are
left untouched, so re-importing unchanged content costs a few reads per batch.

Concurrency: every thread gets its own connection. Each write is one ``BEGIN IMMEDIATE``
transaction, so readers (in other threads or processes) see the old or the new content, never
a mix, and each read runs in one snapshot. A second writer waits up to ``busy_timeout``
seconds and then gets a :class:`~knowledge.store.StoreError`.

Example:
    >>> store = SqliteStore(Path(".qnabot/knowledge.sqlite"))  # doctest: +SKIP
    >>> store.put(stored_items, index=IndexInfo("test/hashing-64", 64))  # doctest: +SKIP
    2
"""

from __future__ import annotations

import heapq
import json
import logging
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from knowledge.client_filters import allows, client_term, filter_terms
from knowledge.items import Item
from knowledge.private_files import create_private
from knowledge.store import (
    DimensionMismatchError,
    FieldMatch,
    IndexInfo,
    ItemPage,
    SearchField,
    StoredItem,
    StoreError,
)
from knowledge.stores import vector_index
from knowledge.stores.vector_index import AnnIndex

#: Bumped when the table layout changes; files from a newer layout are refused.
SCHEMA_VERSION = 2
#: Porter stemming over Unicode words, accents folded ("café" finds "cafe").
TOKENIZER = "porter unicode61 remove_diacritics 2"
#: At most this many distinct words of a query are searched by keywords.
MAX_QUERY_TOKENS = 64
#: Longer "words" cannot occur in an item (questions are at most 140 characters); skip them.
MAX_TOKEN_CHARS = 140
#: Fields with more texts than this leave out words found in more than
#: ``COMMON_WORD_SHARE`` of them when searching by keywords.
PRUNE_MIN_ROWS = 2_000
COMMON_WORD_SHARE = 0.05
#: ... and words found in more texts than this (BM25 gives them little weight there, and each
#: matching text costs time: 67-141 ms a query for common words at 500,000 questions).
MAX_WORD_ROWS = 10_000
#: How many word counts are kept between writes before the cache starts afresh.
MAX_CACHED_WORDS = 100_000
#: Keyword rows read per wanted item from a big (indexed) field, best BM25 first; more are
#: read when client filters hide too many.
KEYWORD_ROWS_PER_ITEM = 4
#: Nearest rows read per wanted item from a field's vector index (an item has several
#: questions; keys of deleted rows are dropped), more when client filters hide too many.
VECTOR_ROWS_PER_ITEM = 3
#: Items read per query by :meth:`SqliteStore.iter_items`.
ITER_PAGE_SIZE = 500
#: Items written per batch by :meth:`SqliteStore.put` (a few statements per batch).
WRITE_BATCH = 500
#: Qids per ``IN (?, ...)`` list, well under SQLite's limit of bound variables.
QIDS_PER_STATEMENT = 500

logger = logging.getLogger(__name__)

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    model_id TEXT,
    dimension INTEGER,
    generation INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO meta (id, generation) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS items (
    qid TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    topic TEXT NOT NULL,
    client_filter TEXT NOT NULL,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY,
    qid TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS questions_by_item ON questions (qid, ordinal);
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY,
    qid TEXT NOT NULL UNIQUE,
    field TEXT NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_by_field ON answers (field, qid);
CREATE TABLE IF NOT EXISTS id_floor (
    name TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS questions_fts USING fts5(
    text, content='questions', content_rowid='id', tokenize='{TOKENIZER}');
CREATE VIRTUAL TABLE IF NOT EXISTS answers_fts USING fts5(
    text, content='answers', content_rowid='id', tokenize='{TOKENIZER}');
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    text, content='answers', content_rowid='id', tokenize='{TOKENIZER}');
PRAGMA user_version = {SCHEMA_VERSION};
"""


@dataclass(frozen=True)
class _FieldTables:
    """Where one search field's texts, vectors and keyword index live."""

    rows: str  # "questions" or "answers"
    fts: str
    answer_field: str | None  # the answers.field value, None for questions


_TABLES = {
    SearchField.QUESTIONS: _FieldTables("questions", "questions_fts", None),
    SearchField.ANSWERS: _FieldTables("answers", "answers_fts", "answers"),
    SearchField.PASSAGES: _FieldTables("answers", "passages_fts", "passages"),
}

def query_words(text: str | None) -> list[str]:
    """The distinct lower-cased words of ``text`` (at most :data:`MAX_QUERY_TOKENS`).

    Example:
        >>> query_words('NOT "Cats" AND cats*')
        ['not', 'cats', 'and']
    """
    words: dict[str, None] = {}
    for match in _WORD.finditer(text or ""):
        word = match.group().lower()
        if len(word) <= MAX_TOKEN_CHARS:
            words.setdefault(word)
            if len(words) >= MAX_QUERY_TOKENS:
                break
    return list(words)


def match_expression(words: Sequence[str]) -> str | None:
    """An FTS5 query that ORs ``words``, each a quoted string; None when there are none.

    User text never reaches ``MATCH`` as syntax: :func:`query_words` keeps letters and digits
    only, and every word is quoted, so operators and punctuation mean nothing.

    Example:
        >>> match_expression(query_words("reset AND NOT password*"))
        '"reset" OR "and" OR "not" OR "password"'
        >>> match_expression(query_words("  ?! ")) is None
        True
    """
    return " OR ".join(f'"{word}"' for word in words) or None


def _dot_rows(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``matrix @ vector`` in numpy's own single-threaded loop. BLAS starts threads, which
    costs more CPU than it saves at the sizes scanned exactly (fields below
    :data:`~knowledge.stores.vector_index.INDEX_MIN_ROWS` rows, and the rows written since a
    field's index), and stalls on a busy machine (measured in ``bench/store_bench.py``)."""
    return np.einsum("ij,j->i", matrix, vector)


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _unit_rows(vectors: np.ndarray, dimension: int) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, dimension)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


@dataclass
class _FieldVectors:
    """A search field in memory as of one generation: rows grouped by item, items by qid."""

    generation: int
    dimension: int
    qids: list[str]
    topics: list[str]
    filters: list[tuple[str, ...]]
    starts: np.ndarray  # first row of each item
    vectors: np.ndarray  # (rows, dimension), float32
    texts: list[str]  # per row
    row_ids: np.ndarray  # per row, its id in the table (= the FTS rowid)
    positions: dict[str, int] = field(init=False)
    row_items: np.ndarray = field(init=False)  # per row, the position of its item
    _id_order: np.ndarray = field(init=False)
    _masks: dict[str | None, np.ndarray] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.positions = {qid: n for n, qid in enumerate(self.qids)}
        sizes = np.diff(np.append(self.starts, len(self.texts)))
        self.row_items = np.repeat(np.arange(len(self.qids)), sizes)
        self._id_order = np.argsort(self.row_ids, kind="stable")

    def allowed(self, client_filter: str | None) -> np.ndarray:
        """Which items the client may see (cached per client filter value)."""
        value = client_term(client_filter)
        mask = self._masks.get(value)
        if mask is None:
            mask = np.fromiter((allows(f, value) for f in self.filters), dtype=bool,
                               count=len(self.filters))
            self._masks[value] = mask
        return mask

    def item_rows(self, position: int) -> slice:
        end = self.starts[position + 1] if position + 1 < len(self.starts) else len(self.texts)
        return slice(int(self.starts[position]), int(end))

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """The rows holding these table ids (all of them exist in this generation)."""
        found = np.searchsorted(self.row_ids, ids, sorter=self._id_order)
        return self._id_order[np.minimum(found, len(self._id_order) - 1)]


@dataclass
class _IndexedField:
    """A big search field as of one generation: its vector index (memory-mapped) and the
    rows written since that index (scanned exactly). Nothing per row is held in Python.

    ``stale``: the index is missing, unreadable or due for repair, and the repair runs in the
    background; meanwhile ``delta_ids`` may hold only the newest rows written since it (at
    most :data:`~knowledge.stores.vector_index.DELTA_SCAN_MAX_ROWS`).
    """

    generation: int
    dimension: int
    rows: int  # texts in the field
    ann: AnnIndex | None  # None: no usable index yet
    delta_ids: np.ndarray
    delta_vectors: np.ndarray
    stale: bool = False

    @property
    def searchable_rows(self) -> int:
        """How many rows :meth:`nearest_rows` can return at most."""
        return (self.ann.size if self.ann is not None else 0) + len(self.delta_ids)

    def nearest_rows(self, vector: np.ndarray, count: int) -> np.ndarray:
        """Row ids of (about) the ``count`` rows nearest ``vector``: from the index, and
        exactly from the rows written since."""
        if self.ann is not None:
            ids, _ = self.ann.search(vector, count)
        else:
            ids = np.empty(0, dtype=np.int64)
        if len(self.delta_ids):
            scores = _dot_rows(self.delta_vectors, vector)
            if len(scores) > count:
                scores_top = np.argpartition(-scores, count - 1)[:count]
            else:
                scores_top = np.arange(len(scores))
            ids = np.concatenate([ids, self.delta_ids[scores_top]])
        return ids


def _json_list(values: Iterable[str] | Iterable[int]) -> str:
    """A JSON array for ``IN (SELECT value FROM json_each(?))``: no limit on its length.
    Python ints and strings only (``ndarray.tolist()``, not numpy scalars)."""
    return json.dumps(list(values))


def _in_chunks(conn: sqlite3.Connection, sql: str,
               qids: Sequence[str]) -> Iterator[sqlite3.Cursor]:
    """Run ``sql``, whose ``{}`` stands for ``?, ?, ...``, over ``qids`` in chunks."""
    for start in range(0, len(qids), QIDS_PER_STATEMENT):
        chunk = qids[start:start + QIDS_PER_STATEMENT]
        yield conn.execute(sql.format(", ".join("?" * len(chunk))), chunk)


def _stored_json(conn: sqlite3.Connection, qids: Sequence[str]) -> dict[str, str]:
    """The stored JSON of those of ``qids`` that are stored."""
    return {qid: data for cursor in _in_chunks(
        conn, "SELECT qid, json FROM items WHERE qid IN ({})", qids) for qid, data in cursor}


def _stored_vectors(conn: sqlite3.Connection,
                    qids: Sequence[str]) -> dict[str, tuple[list[bytes], bytes]]:
    """The stored question vectors (in order) and answer vector of each of ``qids``."""
    questions: dict[str, list[bytes]] = {qid: [] for qid in qids}
    for cursor in _in_chunks(conn, "SELECT qid, vector FROM questions WHERE qid IN ({}) "
                                   "ORDER BY qid, ordinal", qids):
        for qid, vector in cursor:
            questions[qid].append(vector)
    return {qid: (questions[qid], vector) for cursor in _in_chunks(
        conn, "SELECT qid, vector FROM answers WHERE qid IN ({})", qids) for qid, vector in cursor}


def _remove_items(conn: sqlite3.Connection, qids: Sequence[str]) -> int:
    """Delete items, their rows and their keyword index entries; return how many existed.

    ``qids`` must be distinct.
    """
    statements = [
        "INSERT INTO questions_fts (questions_fts, rowid, text) "
        "SELECT 'delete', id, text FROM questions WHERE qid IN ({})",
        "DELETE FROM questions WHERE qid IN ({})",
        *(f"INSERT INTO {name}_fts ({name}_fts, rowid, text) SELECT 'delete', id, text "
          f"FROM answers WHERE field = '{name}' AND qid IN ({{}})"
          for name in ("answers", "passages")),
        "DELETE FROM answers WHERE qid IN ({})",
    ]
    for statement in statements:
        for _ in _in_chunks(conn, statement, qids):
            pass
    return sum(cursor.rowcount
               for cursor in _in_chunks(conn, "DELETE FROM items WHERE qid IN ({})", qids))


class _WriteBatch:
    """The items of one :meth:`SqliteStore.put` not yet written, and how to write them.

    A batch is written with a few ``executemany`` calls: items, questions, answers and their
    keyword index rows. Row ids are given here (counting on from the largest id in the
    table; the write transaction excludes other writers), so the keyword index rows need no
    read-back. Stored items with the same qids are found with one query per batch and
    removed first, except those whose JSON and vectors are unchanged, which are kept as
    they are.
    """

    def __init__(self, conn: sqlite3.Connection, dimension: int):
        self.conn, self.dimension = conn, dimension
        self.written = 0
        self._items: dict[str, StoredItem] = {}  # by qid: a repeated qid, the last one wins
        self._next_ids: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def add(self, stored: StoredItem) -> None:
        """Queue one item; raises ValueError when its vectors have the wrong shape."""
        item = stored.item
        count = len(item.questions)
        dimension = self.dimension
        if (np.size(stored.question_vectors) != count * dimension
                or np.size(stored.answer_vector) != dimension):
            raise ValueError(
                f"Item {item.qid}: expected {count} question vectors and one answer "
                f"vector of {dimension} dimensions, got shapes "
                f"{np.shape(stored.question_vectors)} and {np.shape(stored.answer_vector)}.")
        self._items.pop(item.qid, None)  # keep the order of the last occurrence
        self._items[item.qid] = stored
        self.written += 1

    def flush(self) -> None:
        """Write the queued items, replacing stored ones with the same qid.

        A stored item whose JSON and vectors are those queued is left as it is, so
        re-importing unchanged content writes (almost) nothing.
        """
        if not self._items:
            return
        conn, dimension, batch = self.conn, self.dimension, list(self._items.values())
        self._items = {}
        items = [stored.item for stored in batch]
        texts = [json.dumps(item.data, ensure_ascii=False) for item in items]
        question_units = _unit_rows(np.concatenate(
            [np.asarray(stored.question_vectors, dtype=np.float32).reshape(-1, dimension)
             for stored in batch]), dimension)
        question_bytes, start = [], 0
        for item in items:
            end = start + len(item.questions)
            question_bytes.append([row.tobytes() for row in question_units[start:end]])
            start = end
        answer_bytes = [row.tobytes() for row in _unit_rows(
            np.stack([np.asarray(stored.answer_vector, dtype=np.float32).reshape(-1)
                      for stored in batch]), dimension)]

        stored_json = _stored_json(conn, [item.qid for item in items])
        same_json = [item.qid for item, text in zip(items, texts, strict=True)
                     if stored_json.get(item.qid) == text]
        same_vectors = _stored_vectors(conn, same_json) if same_json else {}
        changed = [n for n, item in enumerate(items)
                   if same_vectors.get(item.qid) != (question_bytes[n], answer_bytes[n])]
        replaced = [items[n].qid for n in changed if items[n].qid in stored_json]
        if replaced:
            _remove_items(conn, replaced)

        next_ids = self._ids()
        question_id, answer_id = next_ids["questions"], next_ids["answers"]
        item_rows, question_rows, question_fts = [], [], []
        answer_rows, answer_fts = [], {"answers": [], "passages": []}
        for n in changed:
            item = items[n]
            qid = item.qid
            item_rows.append((qid, item.kind, item.topic, ",".join(item.client_filter_values),
                              texts[n]))
            for ordinal, (text, vector) in enumerate(zip(item.questions, question_bytes[n],
                                                         strict=True)):
                question_rows.append((question_id, qid, ordinal, text, vector))
                question_fts.append((question_id, text))
                question_id += 1
            if not item.searchable:
                continue  # a slot type: kept, never matched
            answer_field = "answers" if item.kind == "qna" else "passages"
            answer_rows.append((answer_id, qid, answer_field, item.answer, answer_bytes[n]))
            answer_fts[answer_field].append((answer_id, item.answer))
            answer_id += 1
        next_ids["questions"], next_ids["answers"] = question_id, answer_id
        self._record_ids()
        conn.executemany(
            "INSERT INTO items (qid, type, topic, client_filter, json) VALUES (?, ?, ?, ?, ?)",
            item_rows)
        conn.executemany(
            "INSERT INTO questions (id, qid, ordinal, text, vector) VALUES (?, ?, ?, ?, ?)",
            question_rows)
        conn.executemany("INSERT INTO questions_fts (rowid, text) VALUES (?, ?)", question_fts)
        conn.executemany(
            "INSERT INTO answers (id, qid, field, text, vector) VALUES (?, ?, ?, ?, ?)",
            answer_rows)
        for answer_field, rows in answer_fts.items():
            if rows:
                conn.executemany(f"INSERT INTO {answer_field}_fts (rowid, text) VALUES (?, ?)",
                                 rows)

    def _ids(self) -> dict[str, int]:
        """The next free row id of each table (read once per put).

        Ids are never reused, even after the rows with the largest ids were deleted: the
        vector indexes name rows by id (:mod:`knowledge.stores.vector_index`).
        """
        if self._next_ids is None:
            self._next_ids = {
                table: self.conn.execute(
                    f"SELECT max(coalesce((SELECT max(id) FROM {table}), 0), "
                    "coalesce((SELECT last FROM id_floor WHERE name = ?), 0)) + 1",
                    (table,)).fetchone()[0]
                for table in ("questions", "answers")}
        return self._next_ids

    def _record_ids(self) -> None:
        """Remember the largest id given out, so that no later put gives it again."""
        if self._next_ids is not None:
            self.conn.executemany(
                "INSERT INTO id_floor (name, last) VALUES (?, ?) ON CONFLICT (name) "
                "DO UPDATE SET last = max(last, excluded.last)",
                [(table, next_id - 1) for table, next_id in self._next_ids.items()])


class _Candidates:
    """The items one search in a big field is considering, read from SQLite as needed.

    Rows are mapped to items, items to their topic and client filter values, and candidate
    items to all their rows (text and vector) with a few ``IN`` queries each: nothing per row
    of the field is kept in memory.
    """

    def __init__(self, conn: sqlite3.Connection, field: SearchField,
                 client_filter: str | None):
        self.conn, self.field = conn, field
        self.tables = _TABLES[field]
        self.client_filter = client_term(client_filter)
        self.meta: dict[str, tuple[str, bool]] = {}  # qid -> (topic, allowed)
        self.keyword: dict[str, tuple[float, str]] = {}  # qid -> (best BM25, its text)
        self.vector: dict[str, tuple[float, str]] = {}  # qid -> (best cosine, its text)

    def _remember(self, qid: str, topic: str, client_filter: str) -> bool:
        """Record an item's topic and whether the client may see it; return the latter."""
        if qid not in self.meta:
            self.meta[qid] = (topic, allows(filter_terms(client_filter), self.client_filter))
        return self.meta[qid][1]

    def best_by_keywords(self, query: str, k: int) -> list[str]:
        """The ``k`` best items by BM25 (ties by qid), recording their best texts."""
        fts, rows = self.tables.fts, self.tables.rows
        limit = KEYWORD_ROWS_PER_ITEM * k
        while True:
            hits = self.conn.execute(
                f"SELECT h.score, r.qid, r.text, i.topic, i.client_filter FROM (SELECT rowid "
                f"AS id, -bm25({fts}) AS score FROM {fts} WHERE {fts} MATCH ? ORDER BY rank "
                f"LIMIT ?) h JOIN {rows} r ON r.id = h.id JOIN items i ON i.qid = r.qid "
                "ORDER BY h.score DESC", (query, limit)).fetchall()
            best: dict[str, tuple[float, str]] = {}
            for score, qid, text, topic, client_filter in hits:  # an item's first is its best
                if self._remember(qid, topic, client_filter) and qid not in best:
                    best[qid] = (score, text)
            if len(best) >= k or len(hits) < limit:
                break
            limit *= 4
        self.keyword.update(best)
        return sorted(best, key=lambda qid: (-best[qid][0], qid))[:k]

    def _score_rows(self, condition: str, params: tuple, vector: np.ndarray) -> list[str]:
        """Exact cosine of every row of the items selected by ``condition`` (on rows ``r``):
        record each visible item's best score and text; return those items."""
        extra = f" AND r.field = '{self.tables.answer_field}'" if self.tables.answer_field else ""
        rows = self.conn.execute(
            f"SELECT r.qid, r.text, r.vector, i.topic, i.client_filter FROM {self.tables.rows} "
            f"r JOIN items i ON i.qid = r.qid WHERE {condition}{extra}", params).fetchall()
        if not rows:
            return []
        matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32)
        scores = _dot_rows(matrix.reshape(len(rows), -1), vector)
        found: dict[str, None] = {}
        for (qid, text, _, topic, client_filter), score in zip(rows, scores.tolist(),
                                                               strict=True):
            if self._remember(qid, topic, client_filter):
                found[qid] = None
                if qid not in self.vector or score > self.vector[qid][0]:
                    self.vector[qid] = (score, text)
        return list(found)

    def score_keywords(self, query: str | None, qids: list[str]) -> None:
        """Best BM25 of items found by vector only (0.0 when no query word occurs in them)."""
        if query is None or not qids:
            return
        fts, rows = self.tables.fts, self.tables.rows
        extra = f" AND r.field = '{self.tables.answer_field}'" if self.tables.answer_field else ""
        for qid, score, text in self.conn.execute(
                f"SELECT r.qid, -bm25({fts}), r.text FROM {fts} "
                f"JOIN {rows} r ON r.id = {fts}.rowid "
                f"WHERE {fts} MATCH ? AND {fts}.rowid IN (SELECT id FROM {rows} "
                f"WHERE qid IN (SELECT value FROM json_each(?))){extra}",
                (query, _json_list(qids))):
            if qid not in self.keyword or score > self.keyword[qid][0]:
                self.keyword[qid] = (score, text)

    def best_by_vector(self, table: _IndexedField, vector: np.ndarray, k: int) -> list[str]:
        """The ``k`` items with the best exact cosine among those the index finds nearest."""
        count = VECTOR_ROWS_PER_ITEM * k
        total = table.searchable_rows
        while True:
            ids = table.nearest_rows(vector, count)
            found = self._score_rows(
                f"r.qid IN (SELECT qid FROM {self.tables.rows} "
                "WHERE id IN (SELECT value FROM json_each(?)))", (_json_list(ids.tolist()),),
                vector)
            if len(found) >= k or count >= total:
                break
            count *= 4
        return sorted(found, key=lambda qid: (-self.vector[qid][0], qid))[:k]

    def score_vectors(self, qids: list[str], vector: np.ndarray) -> None:
        """Exact best cosine of each item over all its rows in the field, and that row's text."""
        missing = [qid for qid in qids if qid not in self.vector]
        if missing:
            self._score_rows("r.qid IN (SELECT value FROM json_each(?))",
                             (_json_list(missing),), vector)

    def keyword_match(self, qid: str) -> FieldMatch:
        """A keyword-only match (no vector score)."""
        score, text = self.keyword[qid]
        return FieldMatch(qid, 0.0, score, text, self.meta[qid][0])

    def match(self, qid: str) -> FieldMatch:
        """A match with both scores; the text is the one nearest by vector."""
        vector_score, text = self.vector.get(qid, (0.0, ""))
        keyword_score = self.keyword.get(qid, (0.0, ""))[0]
        return FieldMatch(qid, vector_score, keyword_score,
                          text or self.keyword.get(qid, (0.0, ""))[1], self.meta[qid][0])


class _RepairAbandoned(Exception):
    """The store was closed while an index repair ran: it stops and writes nothing."""


class _Connection(sqlite3.Connection):
    """A connection that can be weakly referenced, so one whose thread ended is closed.

    ``in_use`` is held while its thread runs statements on it: :meth:`SqliteStore.close`
    takes it before closing, because closing a connection that another thread is reading
    from crashes the interpreter (a background classifier training reads this way).
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.in_use = threading.RLock()


class SqliteStore:
    """The :class:`~knowledge.store.Store` port over one SQLite file (created if missing).

    Safe to share between threads: each thread uses its own connection (closed when the thread
    ends, or by :meth:`close`), and the vector cache is replaced atomically. ``busy_timeout``
    is how many seconds a write waits for another writer before raising :class:`StoreError`.

    Example:
        >>> store = SqliteStore(tmp_path / "knowledge.sqlite")  # doctest: +SKIP
        >>> store.count()  # doctest: +SKIP
        0
    """

    def __init__(self, path: Path, *, busy_timeout: float = 5.0,
                 index_min_rows: int = vector_index.INDEX_MIN_ROWS):
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        #: Fields with at least this many rows are searched through a vector index.
        self.index_min_rows = index_min_rows
        self._local = threading.local()
        # Weak: a thread-per-request server must not pile up connections of finished threads.
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._connections_lock = threading.Lock()
        self._cache: dict[SearchField, _FieldVectors | _IndexedField] = {}
        self._indexes: dict[SearchField, AnnIndex] = {}  # memory-mapped, by field
        self._cache_lock = threading.Lock()
        # Bumped by close(): a background index repair started before stops at its next step.
        self._epoch = 0
        self._repair_lock = threading.Lock()  # guards the two below
        self._repairer: threading.Thread | None = None
        self._repair_retry_at = 0.0  # time.monotonic() before which a failed repair waits
        self._damaged: StoreError | None = None
        self._verified = False
        # (generation, {(field, word): how many of the field's texts contain it})
        self._term_stats: tuple[int, dict[tuple[SearchField, str], int]] = (-1, {})
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            create_private(self.path)  # 0600; SQLite gives its -wal and -shm files the same
        except OSError as exc:
            raise StoreError(f"Cannot create the folder of the knowledge base {self.path}: "
                             f"{exc}. Set QNABOT_HOME to a writable folder.") from exc
        self._initialise()

    # -- connections and transactions ----------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                   check_same_thread=False, factory=_Connection)
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            raise self._error(exc, "open") from exc
        with self._connections_lock:
            self._connections.add(conn)
        return conn

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _initialise(self) -> None:
        conn = self._connection()
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                self.close()
                raise StoreError(
                    f"The knowledge base {self.path} was written by a newer version of QnABot "
                    f"(layout {version}, this version reads {SCHEMA_VERSION}). Upgrade QnABot, "
                    f"or point QNABOT_HOME to another folder.")
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            if version < SCHEMA_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            self.close()
            raise self._error(exc, "open") from exc

    def _error(self, exc: sqlite3.Error, doing: str) -> StoreError:
        """A :class:`StoreError` that says what went wrong with the file and what to do."""
        message = str(exc).lower()
        if "locked" in message or "busy" in message:
            return StoreError(
                f"Could not {doing} the knowledge base {self.path}: another process is writing "
                f"to it (waited {self.busy_timeout:g} s). Wait for the running import or "
                f"reindex to finish, then try again.")
        if "not a database" in message or "malformed" in message or "corrupt" in message:
            # Sticky: once seen, every later read and write of this store refuses too, so
            # nothing reports success into a damaged file.
            self._damaged = StoreError(
                f"{self.path} is damaged: it is not a readable QnABot knowledge base ({exc}). "
                f"Fix or restore it: stop QnABot, move the file aside, then restore a backup "
                f"or import your items again (e.g. from an export); or set QNABOT_HOME to "
                f"another folder.")
            return self._damaged
        return StoreError(
            f"Could not {doing} the knowledge base {self.path}: {exc}. Check that the file "
            f"and its folder are writable and that the disk is not full.")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One consistent snapshot for a read (or the thread's own open write transaction)."""
        conn = self._connection()
        with conn.in_use, self._snapshot(conn) as reading:
            yield reading

    @contextmanager
    def _snapshot(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        if conn.in_transaction:  # called from inside this thread's put(): see its writes
            pending = getattr(self._local, "pending", None)
            if pending is not None:
                with self._translated("write to"):
                    pending.flush()
            with self._translated("read"):
                yield conn
            return
        self._refuse_if_damaged()
        try:
            with self._translated("read"):
                conn.execute("BEGIN")
                yield conn
        finally:
            # A read-only transaction: ending it never writes, and an error here must not
            # replace the one that ended the read.
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        """Turn SQLite errors of the statements inside into :class:`StoreError`."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._error(exc, doing) from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction, rolled back if anything in it raises.

        Errors raised inside pass through unchanged: wrap this store's statements in
        :meth:`_translated`, so that a caller's own errors (an import's corrupt file, another
        database's error) are never mistaken for this file's.
        """
        conn = self._connection()
        with conn.in_use, self._transaction(conn) as writing:
            yield writing

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        if conn.in_transaction:
            raise StoreError(f"A write to {self.path} is already running in this thread; "
                             f"finish it before starting another.")
        self._refuse_if_damaged()
        with self._translated("write to"):
            conn.execute("BEGIN IMMEDIATE")
        self._local.writing = True
        try:
            if not self._verified:
                self._verify(conn)
            yield conn
            with self._translated("write to"):
                conn.execute("UPDATE meta SET generation = generation + 1 WHERE id = 1")
                conn.execute("COMMIT")
        except BaseException:
            self._rollback(conn)
            raise
        finally:
            self._local.writing = False

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            with suppress(sqlite3.Error):  # keep the error that made us roll back
                conn.execute("ROLLBACK")

    def _refuse_if_damaged(self) -> None:
        if self._damaged is not None:
            raise self._damaged

    def _verify(self, conn: sqlite3.Connection) -> None:
        """Check the whole file (``PRAGMA quick_check``) before this process first writes.

        Damage in pages a write does not touch goes unnoticed by SQLite, so without this an
        import would report success into a damaged file. About a second per GB, once.
        """
        with self._translated("check"):
            problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise self._error(sqlite3.DatabaseError(
                "database disk image is malformed: " + "; ".join(problems)), "check")
        self._verified = True

    def check(self) -> None:
        """Raise :class:`StoreError` (the "fix or restore" message) if the file is damaged.

        Example:
            >>> store.check()  # doctest: +SKIP
        """
        self._refuse_if_damaged()
        conn = self._connection()
        with conn.in_use:
            if conn.in_transaction:
                return
            with self._translated("check"):
                conn.execute("BEGIN")
            try:
                self._verify(conn)
            finally:
                self._rollback(conn)

    def close(self) -> None:
        """Close every connection this store opened (in any thread).

        A background index repair is abandoned at its next step (it never writes a partial
        file: saves are atomic); this waits at most for the statement it is running.
        """
        self._epoch += 1
        with self._connections_lock:
            connections = list(self._connections)
            self._connections = weakref.WeakSet()
        for conn in connections:
            with conn.in_use:  # wait for another thread's statement to finish
                conn.close()
        self._local = threading.local()
        self._cache = {}
        self._indexes = {}
        self._term_stats = (-1, {})

    @property
    def open_connections(self) -> int:
        """How many connections are open (one per thread that used the store and still runs)."""
        with self._connections_lock:
            return len(self._connections)

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------------------

    def index_info(self) -> IndexInfo | None:
        """The model the stored vectors came from, or None for a never-written store."""
        with self._read() as conn:
            return self._index_info(conn)

    @staticmethod
    def _index_info(conn: sqlite3.Connection) -> IndexInfo | None:
        model_id, dimension = conn.execute(
            "SELECT model_id, dimension FROM meta WHERE id = 1").fetchone()
        return None if model_id is None else IndexInfo(model_id, int(dimension))

    def put(self, items: Iterable[StoredItem], *, replace_all: bool = False,
            index: IndexInfo) -> int:
        """Upsert ``items`` in one transaction; see :meth:`knowledge.store.Store.put`.

        Items are written :data:`WRITE_BATCH` at a time (a few statements per batch, not per
        item); a read from inside the import (by the iterator) first writes what is pending,
        so it sees every item yielded so far. If iterating ``items`` raises, nothing is
        written and the exception propagates.
        """
        with self._write() as conn:
            with self._translated("write to"):
                stored = self._index_info(conn)
                if stored is not None and stored != index and not replace_all:
                    raise DimensionMismatchError(stored, index)
                if replace_all:
                    self._remove_everything(conn)
                # First, so that a read from inside the import knows the vectors' model.
                conn.execute("UPDATE meta SET model_id = ?, dimension = ? WHERE id = 1",
                             (index.model_id, index.dimension))
            batch = _WriteBatch(conn, index.dimension)
            self._local.pending = batch
            try:
                for stored_item in items:  # the caller's errors propagate unchanged
                    batch.add(stored_item)
                    if len(batch) >= WRITE_BATCH:
                        with self._translated("write to"):
                            batch.flush()
                with self._translated("write to"):
                    batch.flush()
            finally:
                self._local.pending = None
        self._update_indexes_after_write()
        return batch.written

    @staticmethod
    def _remove_everything(conn: sqlite3.Connection) -> None:
        for fts in ("questions_fts", "answers_fts", "passages_fts"):
            conn.execute(f"INSERT INTO {fts} ({fts}) VALUES ('delete-all')")
        for table in ("questions", "answers", "items"):
            conn.execute(f"DELETE FROM {table}")

    def delete(self, qids: Sequence[str]) -> int:
        """Delete these items in one transaction; return how many existed."""
        with self._write() as conn, self._translated("delete from"):
            removed = _remove_items(conn, list(dict.fromkeys(qids)))
        self._update_indexes_after_write()
        return removed

    # -- reads ----------------------------------------------------------------------------

    def get(self, qid: str) -> Item | None:
        """The item with this qid, or None."""
        return self.get_many([qid]).get(qid)

    def get_many(self, qids: Sequence[str]) -> dict[str, Item]:
        """The items with these qids (missing ones are left out)."""
        if not qids:
            return {}
        with self._read() as conn:
            rows = conn.execute(
                "SELECT qid, json FROM items WHERE qid IN (SELECT value FROM json_each(?))",
                (json.dumps(list(qids)),)).fetchall()
        return {qid: Item(json.loads(data)) for qid, data in rows}

    def list(self, *, qid_filter: str = "", prefix: bool = False, offset: int = 0,
             limit: int = 100) -> ItemPage:
        """Items sorted by qid whose qid contains (or starts with) ``qid_filter``.

        The filter is plain, case-sensitive text: ``%``, ``_`` and ``*`` match only themselves.
        """
        if offset < 0 or limit < 0:
            raise ValueError(f"offset and limit must not be negative (got {offset}, {limit})")
        where, params = "", ()
        if qid_filter:
            where = "WHERE instr(qid, ?) = 1" if prefix else "WHERE instr(qid, ?) > 0"
            params = (qid_filter,)
        with self._read() as conn:
            total = conn.execute(f"SELECT count(*) FROM items {where}", params).fetchone()[0]
            rows = conn.execute(
                f"SELECT json FROM items {where} ORDER BY qid LIMIT ? OFFSET ?",
                (*params, limit, offset)).fetchall()
        return ItemPage(items=[Item(json.loads(data)) for (data,) in rows], total=total)

    def iter_items(self) -> Iterator[Item]:
        """Every item, sorted by qid, read a page at a time (no connection is held between
        pages, so the caller may write while iterating)."""
        last = None
        while True:
            with self._read() as conn:
                rows = conn.execute(
                    "SELECT qid, json FROM items WHERE ? IS NULL OR qid > ? ORDER BY qid LIMIT ?",
                    (last, last, ITER_PAGE_SIZE)).fetchall()
            for _, data in rows:
                yield Item(json.loads(data))
            if len(rows) < ITER_PAGE_SIZE:
                return
            last = rows[-1][0]

    def iter_stored(self) -> Iterator[StoredItem]:
        """Every QnA and text item with its stored (unit) vectors, sorted by qid; see
        :meth:`knowledge.store.Store.iter_stored`. Read a page at a time, each page in one
        snapshot."""
        last = None
        while True:
            with self._read() as conn:
                info = self._index_info(conn)
                rows = conn.execute(
                    "SELECT qid, json FROM items WHERE ? IS NULL OR qid > ? ORDER BY qid LIMIT ?",
                    (last, last, ITER_PAGE_SIZE)).fetchall()
                vectors = _stored_vectors(conn, [qid for qid, _ in rows])
            for qid, data in rows:
                if qid not in vectors:
                    continue  # not matched (a slot type): it has no answer vector
                questions, answer = vectors[qid]
                question_matrix = np.frombuffer(b"".join(questions), dtype=np.float32)
                yield StoredItem(item=Item(json.loads(data)),
                                 question_vectors=question_matrix.reshape(-1, info.dimension),
                                 answer_vector=np.frombuffer(answer, dtype=np.float32))
            if len(rows) < ITER_PAGE_SIZE:
                return
            last = rows[-1][0]

    def count(self) -> int:
        """How many items are stored."""
        with self._read() as conn:
            return conn.execute("SELECT count(*) FROM items").fetchone()[0]

    # -- search ---------------------------------------------------------------------------

    def search(self, field: SearchField, *, vector: np.ndarray | None, text: str | None,
               k: int, client_filter: str | None = None) -> list[FieldMatch]:
        """The union of the ``k`` best items by vector and by keywords, with both scores.

        See :meth:`knowledge.store.Store.search`. BM25 scores are positive, higher is better.
        In a field of more than :data:`PRUNE_MIN_ROWS` texts, words found in more than
        :data:`COMMON_WORD_SHARE` of them are not searched (like stopwords); when every word
        is that common, the texts holding all of them are, except in a field searched through
        its vector index with a ``vector``: there the vector alone finds the candidates (and
        their keyword scores are 0.0).
        """
        words = query_words(text)
        if k <= 0 or (vector is None and not words):
            return []
        with self._read() as conn:
            generation = conn.execute("SELECT generation FROM meta WHERE id = 1").fetchone()[0]
            table = self._field_vectors(conn, field, generation)
            if isinstance(table, _IndexedField):
                return self._search_indexed(conn, field, table, vector, words, k,
                                            client_filter)
            if not table.qids:
                return []
            keyword = self._keyword_hits(conn, field, table, words, generation)
        allowed = table.allowed(client_filter)
        keyword = {p: hit for p, hit in keyword.items() if allowed[p]}
        best_keyword = heapq.nsmallest(k, keyword, key=lambda p: (-keyword[p][0], table.qids[p]))
        if vector is None:
            return [FieldMatch(table.qids[p], 0.0, keyword[p][0], table.texts[keyword[p][1]],
                               table.topics[p]) for p in best_keyword]
        return self._hybrid(table, vector, keyword, best_keyword, k, allowed)

    @staticmethod
    def _hybrid(table: _FieldVectors, vector: np.ndarray, keyword: dict[int, tuple[float, int]],
                best_keyword: list[int], k: int, allowed: np.ndarray) -> list[FieldMatch]:
        """The ``k`` best items by vector plus ``best_keyword``, each with both scores."""
        query_vector = _unit(vector)
        if query_vector.shape[0] != table.dimension:
            raise ValueError(f"The query vector has {query_vector.shape[0]} dimensions but the "
                             f"stored vectors have {table.dimension}.")
        row_scores = _dot_rows(table.vectors, query_vector)
        item_scores = np.maximum.reduceat(row_scores, table.starts)
        candidates = np.flatnonzero(allowed)
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-item_scores[candidates], k - 1)[:k]]
        matches = []
        for position in {*candidates.tolist(), *best_keyword}:
            rows = table.item_rows(position)
            matches.append(FieldMatch(
                qid=table.qids[position],
                vector_score=float(item_scores[position]),
                keyword_score=keyword[position][0] if position in keyword else 0.0,
                matched_text=table.texts[rows.start + int(np.argmax(row_scores[rows]))],
                topic=table.topics[position],
            ))
        return sorted(matches, key=lambda m: (-m.vector_score, m.qid))

    def _keyword_hits(self, conn: sqlite3.Connection, field: SearchField,
                      table: _FieldVectors, words: list[str],
                      generation: int) -> dict[int, tuple[float, int]]:
        """Item position -> (best BM25, row of that text) for every item matching ``words``.

        FTS5's ``bm25()`` is negative, lower is better; it is negated here. Rows are mapped to
        items in memory, which is much faster than joining in SQL.
        """
        query = self._keyword_query(conn, field, words, generation, total=len(table.texts))
        if query is None:
            return {}
        fts = _TABLES[field].fts
        hits = conn.execute(f"SELECT rowid, bm25({fts}) FROM {fts} WHERE {fts} MATCH ?",
                            (query,)).fetchall()
        if not hits:
            return {}
        ids = np.fromiter((h[0] for h in hits), dtype=np.int64, count=len(hits))
        scores = -np.fromiter((h[1] for h in hits), dtype=np.float64, count=len(hits))
        rows = table.rows_of(ids)
        items = table.row_items[rows]
        order = np.lexsort((-scores, items))  # by item, best score first
        first = np.flatnonzero(np.diff(items[order], prepend=-1))
        best = order[first]
        return {int(p): (float(sc), int(r))
                for p, sc, r in zip(items[best], scores[best], rows[best], strict=True)}

    def _keyword_query(self, conn: sqlite3.Connection, field: SearchField,
                       words: list[str], generation: int, total: int, *,
                       common_only: bool = True) -> str | None:
        """The FTS5 query for ``words``: any of them, without the very common ones in a big
        field; when every word is that common, texts holding all of them if ``common_only``
        (a keyword-only search), else None (the vector finds the candidates).

        Scoring BM25 costs time per matching text, and a word found in a large share of the
        texts (more than :data:`COMMON_WORD_SHARE`, or more than :data:`MAX_WORD_ROWS` texts)
        adds almost nothing to the ranking, so such words are left out. Counts are cached
        until the next write. A query of common words only is expensive whatever its
        ``LIMIT``: FTS5's ``bm25()`` reads each word's whole list of texts to weigh it
        (0.6-0.9 s a turn for "how much does it cost" among a million questions).
        """
        if total <= PRUNE_MIN_ROWS:
            return match_expression(words)
        found = self._word_counts(conn, field, words, generation)
        limit = min(COMMON_WORD_SHARE * total, MAX_WORD_ROWS)
        rare = [word for df, word in found if df <= limit]
        if rare:
            return match_expression(rare)
        if not common_only:
            return None
        return " AND ".join(f'"{word}"' for _, word in found) or None

    def _word_counts(self, conn: sqlite3.Connection, field: SearchField,
                     words: list[str], generation: int) -> list[tuple[int, str]]:
        """(texts holding it, word) for each of ``words`` found in the field, rarest first."""
        stats = self._term_stats
        if (stats[0] != generation or getattr(self._local, "writing", False)
                or len(stats[1]) > MAX_CACHED_WORDS):
            stats = (generation, {})
            if not getattr(self._local, "writing", False):
                self._term_stats = stats
        counts = stats[1]
        fts = _TABLES[field].fts
        for word in words:
            if (field, word) not in counts:
                counts[(field, word)] = conn.execute(
                    f"SELECT count(*) FROM {fts} WHERE {fts} MATCH ?",
                    (match_expression([word]),)).fetchone()[0]
        return sorted((counts[(field, w)], w) for w in words if counts[(field, w)] > 0)

    def _field_vectors(self, conn: sqlite3.Connection, field: SearchField,
                       generation: int) -> _FieldVectors | _IndexedField:
        """The field as of this read's snapshot, from the cache when it is current: its
        vectors in memory (small fields), or its index and the rows written since (big ones).
        """
        if getattr(self._local, "writing", False):
            # Inside this thread's own uncommitted write: never share what it sees, and
            # never build an index from rows that may yet be rolled back.
            return self._load_vectors(conn, field, generation)
        cached = self._cache.get(field)
        if cached is not None and self._is_current(cached, field, generation):
            return cached
        with self._cache_lock:
            cached = self._cache.get(field)
            if cached is not None and self._is_current(cached, field, generation):
                return cached
            table = self._load_field(conn, field, generation)
            if cached is None or cached.generation <= generation:
                self._cache[field] = table
            return table

    def _is_current(self, cached: _FieldVectors | _IndexedField, field: SearchField,
                    generation: int) -> bool:
        """Whether ``cached`` can serve a read of ``generation``. A stale index is current
        until a newer index file appears (a repair here or in another process saved it); while
        none has, this makes sure a repair is under way (a cheap try of the lock)."""
        if cached.generation != generation:
            return False
        if not isinstance(cached, _IndexedField) or not cached.stale:
            return True
        files = vector_index.index_files(self.path, field.value)
        newest = files[0][1] if files else None
        if newest != (cached.ann.path if cached.ann is not None else None):
            return False
        self._schedule_index_repair()
        return True

    # -- big fields: the vector index ----------------------------------------------------

    @staticmethod
    def _rows_where(field: SearchField, extra: str = "") -> tuple[str, tuple]:
        """``FROM table WHERE ...`` selecting the field's rows (plus ``extra``)."""
        tables = _TABLES[field]
        conditions = [c for c in ("field = ?" if tables.answer_field else "", extra) if c]
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        params = (tables.answer_field,) if tables.answer_field else ()
        return f"FROM {tables.rows}{where}", params

    def _count_rows(self, conn: sqlite3.Connection, field: SearchField,
                    after: int | None = None) -> int:
        """How many texts the field holds (with ids above ``after``, when given)."""
        sql, params = self._rows_where(field, "id > ?" if after is not None else "")
        return conn.execute(f"SELECT count(*) {sql}",
                            (*params, *(() if after is None else (after,)))).fetchone()[0]

    def _load_field(self, conn: sqlite3.Connection, field: SearchField,
                    generation: int) -> _FieldVectors | _IndexedField:
        index = self._index_info(conn)
        rows = self._count_rows(conn, field)
        if index is None or rows < max(1, self.index_min_rows):
            return self._load_vectors(conn, field, generation)
        ann = self._open_index(field, index.dimension)
        if ann is None:
            delta, stale = rows, True
        else:
            delta, dead = self._index_health(conn, field, ann, rows)
            stale = self._needs_repair(ann, delta, dead)
        if stale:
            self._schedule_index_repair()  # never built here: a turn must not wait for it
        scan = max(vector_index.DELTA_SCAN_MAX_ROWS, vector_index.DELTA_MAX_ROWS)
        delta_ids, delta_vectors = self._newest_rows(conn, field, index.dimension,
                                                     after=ann.high if ann else 0, limit=scan)
        if ann is None:
            logger.warning(
                "the %s vector index of %s is missing or unreadable: until it is rebuilt (in "
                "the background), searches of its %d rows find them by keywords and scan only "
                "the %d newest exactly", field.value, self.path, rows, len(delta_ids))
        elif delta > len(delta_ids):
            logger.warning(
                "the %s vector index of %s is %d rows behind: until it is extended (in the "
                "background), searches find the %d oldest of them by keywords only",
                field.value, self.path, delta, delta - len(delta_ids))
        return _IndexedField(generation, index.dimension, rows, ann, delta_ids, delta_vectors,
                             stale)

    def _newest_rows(self, conn: sqlite3.Connection, field: SearchField, dimension: int,
                     after: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """(row ids, vectors) of the ``limit`` newest rows of the field with ids above
        ``after``: what a search scans exactly beside the index."""
        sql, params = self._rows_where(field, "id > ?")
        rows = conn.execute(f"SELECT id, vector {sql} ORDER BY id DESC LIMIT ?",
                            (*params, after, limit)).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        return ids, vectors.reshape(len(rows), dimension)

    def _open_index(self, field: SearchField, dimension: int) -> AnnIndex | None:
        """The newest index file of the field, memory-mapped (kept open while it is newest)."""
        files = vector_index.index_files(self.path, field.value)
        current = self._indexes.get(field)
        if current is not None and files and current.path == files[0][1]:
            return current
        opened = vector_index.open_index(self.path, field.value, dimension)
        if opened is None:
            self._indexes.pop(field, None)
        else:
            self._indexes[field] = opened
        return opened

    def _index_health(self, conn: sqlite3.Connection, field: SearchField, ann: AnnIndex,
                      rows: int) -> tuple[int, int]:
        """(rows written since the index, keys of the index whose rows are gone)."""
        delta = self._count_rows(conn, field, after=ann.high)
        return delta, ann.size - (rows - delta)

    @staticmethod
    def _needs_repair(ann: AnnIndex, delta: int, dead: int) -> bool:
        """Whether an index with ``delta`` rows written since and ``dead`` keys of deleted
        rows should be extended or rebuilt."""
        return (delta > vector_index.DELTA_MAX_ROWS
                or dead > vector_index.DEAD_SHARE_REBUILD * max(ann.size, 1))

    # -- big fields: maintaining the index (writers, and the background repair) -----------

    @contextmanager
    def _repair_step(self, conn: sqlite3.Connection, epoch: int) -> Iterator[sqlite3.Connection]:
        """One short read of an index repair, in its own snapshot; raises
        :class:`_RepairAbandoned` once the store was closed after the repair began.

        Checked under the connection's ``in_use``, which :meth:`close` takes before closing
        it, so a repair never runs a statement on a closed connection.
        """
        with conn.in_use:
            if epoch != self._epoch:
                raise _RepairAbandoned
            with self._snapshot(conn) as reading:
                yield reading

    def _maintain_indexes(self, conn: sqlite3.Connection, epoch: int) -> None:
        """Bring every big field's index up to date with the committed rows and remove the
        index of a field that became small; called holding the maintenance lock.

        Reads in short steps (:meth:`_repair_step`), a chunk of rows each, never in one long
        snapshot: a build covers the rows up to the largest id when it began; rows deleted
        while it runs become dead keys, dropped when looked up like any other.
        """
        for search_field in SearchField:
            with self._repair_step(conn, epoch) as reading:
                index = self._index_info(reading)
                rows = self._count_rows(reading, search_field)
                if index is None or rows < max(1, self.index_min_rows):
                    vector_index.remove_index_files(self.path, search_field.value)
                    self._indexes.pop(search_field, None)
                    continue
                ann = self._open_index(search_field, index.dimension)
                if ann is not None and not self._needs_repair(
                        ann, *self._index_health(reading, search_field, ann, rows)):
                    continue
            self._repair_index(conn, epoch, search_field, index.dimension, ann)

    def _repair_index(self, conn: sqlite3.Connection, epoch: int, field: SearchField,
                      dimension: int, ann: AnnIndex | None) -> AnnIndex:
        """Extend the index with the rows written since it (dropping deleted rows' keys), or
        rebuild it from every row; write it atomically; return it memory-mapped."""
        rows_table = _TABLES[field].rows
        with self._repair_step(conn, epoch) as reading:
            high = reading.execute(
                f"SELECT coalesce(max(id), 0) FROM {rows_table}").fetchone()[0]
            rows = self._count_rows(reading, field)
            if ann is not None:
                delta, dead = self._index_health(reading, field, ann, rows)
                extend = dead <= vector_index.DEAD_SHARE_REBUILD * max(ann.size, 1)
                dead_keys = np.empty(0, dtype=np.int64)
                if extend and dead > 0:
                    live = np.concatenate([ids for ids, _ in self._vector_ids(
                        reading, field, ann.high)] or [np.empty(0, dtype=np.int64)])
                    dead_keys = np.setdiff1d(ann.keys(), live, assume_unique=True)
        if ann is not None and extend:
            logger.info("extending the %s vector index of %s: %d new rows, %d removed",
                        field.value, self.path, delta, len(dead_keys))
            built = vector_index.build_index(
                self._vector_chunks(conn, epoch, field, dimension, after=ann.high, up_to=high),
                dimension, base=ann, dead=dead_keys)
        else:
            logger.info("building the %s vector index of %s (%d rows)", field.value,
                        self.path, rows)
            built = vector_index.build_index(
                self._vector_chunks(conn, epoch, field, dimension, after=0, up_to=high),
                dimension)
        if epoch != self._epoch:
            raise _RepairAbandoned
        return self._save_index(built, field, high)

    def _vector_chunks(self, conn: sqlite3.Connection, epoch: int, field: SearchField,
                       dimension: int, after: int,
                       up_to: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The field's (row ids, vectors) with ids in (``after``, ``up_to``], in bounded
        chunks, each read in its own :meth:`_repair_step`."""
        sql, params = self._rows_where(field, "id > ? AND id <= ?")
        while True:
            with self._repair_step(conn, epoch) as reading:
                rows = reading.execute(f"SELECT id, vector {sql} ORDER BY id LIMIT ?",
                                       (*params, after, up_to,
                                        vector_index.BUILD_CHUNK)).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            yield ids, vectors.reshape(len(rows), dimension)
            after = int(ids[-1])

    def _save_index(self, built: object, field: SearchField, high: int) -> AnnIndex:
        self._indexes.pop(field, None)
        saved = vector_index.save_index(built, self.path, field.value, high)
        self._indexes[field] = saved
        return saved

    def _vector_ids(self, conn: sqlite3.Connection, field: SearchField,
                    up_to: int) -> Iterator[np.ndarray]:
        """The field's row ids up to ``up_to``, in chunks."""
        sql, params = self._rows_where(field, "id > ? AND id <= ?")
        after = 0
        while True:
            ids = [r[0] for r in conn.execute(f"SELECT id {sql} ORDER BY id LIMIT ?",
                                              (*params, after, up_to,
                                               vector_index.BUILD_CHUNK))]
            if not ids:
                return
            yield np.asarray(ids, dtype=np.int64)
            after = ids[-1]

    def _indexes_due(self) -> bool:
        """Whether any field's index is missing, due for repair, or left over (cheap)."""
        with self._read() as conn:
            index = self._index_info(conn)
            for field in SearchField:
                rows = self._count_rows(conn, field)
                if index is None or rows < max(1, self.index_min_rows):
                    if vector_index.index_files(self.path, field.value):
                        return True
                    continue
                ann = self._open_index(field, index.dimension)
                if ann is None or self._needs_repair(
                        ann, *self._index_health(conn, field, ann, rows)):
                    return True
        return False

    def update_indexes(self) -> None:
        """Bring every big field's vector index up to date with the committed rows (and
        remove the index of a field that became small), waiting for another process's
        maintenance first. Cheap when nothing needs doing.

        Runs after each write, in the writing thread: an import ends with its index work.
        Searches never build; see :meth:`wait_for_index_repair`.
        """
        if not self._indexes_due():
            return
        epoch = self._epoch
        with vector_index.maintenance_lock(self.path):
            try:
                self._maintain_indexes(self._connection(), epoch)
            except _RepairAbandoned:
                logger.info("closed %s while updating its vector indexes; left as they were",
                            self.path)

    def _update_indexes_after_write(self) -> None:
        """:meth:`update_indexes` after a committed write: its failure (a full disk, say) is
        logged, not raised, since the write itself succeeded; searches start a background
        repair."""
        try:
            self.update_indexes()
        except Exception:  # noqa: BLE001 - the items are stored; the index is only a cache
            logger.warning("could not update the vector indexes of %s; searches will "
                           "repair them in the background", self.path, exc_info=True)

    def _schedule_index_repair(self) -> None:
        """Start repairing the indexes in a background thread, unless a repair runs already
        in this store, failed less than :data:`~knowledge.stores.vector_index.
        REPAIR_RETRY_SECONDS` ago, or holds the maintenance lock in another store or process
        (then searches go on with what exists and the next one tries again). Never waits."""
        with self._repair_lock:
            if self._repairer is not None and self._repairer.is_alive():
                return
            if time.monotonic() < self._repair_retry_at:
                return
            try:
                lock = vector_index.try_maintenance_lock(self.path)
            except OSError as exc:
                logger.warning("cannot repair the vector indexes of %s (%s); searches stay "
                               "degraded", self.path, exc)
                self._repair_retry_at = time.monotonic() + vector_index.REPAIR_RETRY_SECONDS
                return
            if lock is None:
                return
            # A daemon: a process that is done (a CLI command) must not wait an hour for a
            # rebuild of a million rows; one killed at exit leaves no partial file.
            thread = threading.Thread(target=self._repair_in_background, args=(lock, self._epoch),
                                      name=f"index-repair {self.path.name}", daemon=True)
            try:
                thread.start()
            except BaseException:
                lock.release()
                raise
            self._repairer = thread

    def _repair_in_background(self, lock: vector_index.MaintenanceLock, epoch: int) -> None:
        """The background repair: :meth:`_maintain_indexes` on this thread's own connection,
        then release the lock and close that connection."""
        conn = None
        try:
            conn = self._connection()
            self._maintain_indexes(conn, epoch)
        except _RepairAbandoned:
            logger.info("vector index repair of %s abandoned: the store was closed", self.path)
        except Exception:  # noqa: BLE001 - searches go on with what exists; retried later
            logger.warning("could not repair the vector indexes of %s; retrying in %g s",
                           self.path, vector_index.REPAIR_RETRY_SECONDS, exc_info=True)
            with self._repair_lock:
                self._repair_retry_at = time.monotonic() + vector_index.REPAIR_RETRY_SECONDS
        finally:
            lock.release()
            if conn is not None:
                with self._connections_lock:
                    self._connections.discard(conn)
                with conn.in_use:
                    conn.close()

    def wait_for_index_repair(self, timeout: float | None = None) -> bool:
        """Wait until this store's background index repair (if any) ends; return whether it
        did within ``timeout`` seconds. For tools that want the index whole before they
        exit (searches never need to).

        Example:
            >>> store.wait_for_index_repair(timeout=60)  # doctest: +SKIP
            True
        """
        with self._repair_lock:
            thread = self._repairer
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _search_indexed(self, conn: sqlite3.Connection, field: SearchField,
                        table: _IndexedField, vector: np.ndarray | None, words: list[str],
                        k: int, client_filter: str | None) -> list[FieldMatch]:
        """:meth:`search` in a big field: candidates from the vector index and from FTS5
        (best BM25 first, ``LIMIT``), then exact scores from the candidates' own rows."""
        query_vector = None
        if vector is not None:
            query_vector = _unit(vector)
            if query_vector.shape[0] != table.dimension:
                raise ValueError(f"The query vector has {query_vector.shape[0]} dimensions but "
                                 f"the stored vectors have {table.dimension}.")
        candidates = _Candidates(conn, field, client_filter)
        keyword_items: list[str] = []
        query = self._keyword_query(conn, field, words, table.generation, total=table.rows,
                                    common_only=query_vector is None)
        if query is not None:
            keyword_items = candidates.best_by_keywords(query, k)
        vector_items: list[str] = []
        if query_vector is not None:
            vector_items = candidates.best_by_vector(table, query_vector, k)
        if query_vector is None:
            return [candidates.keyword_match(qid) for qid in keyword_items]
        candidates.score_keywords(query, [q for q in vector_items if q not in keyword_items])
        qids = list(dict.fromkeys([*vector_items, *keyword_items]))
        candidates.score_vectors(qids, query_vector)
        return sorted((candidates.match(qid) for qid in qids),
                      key=lambda m: (-m.vector_score, m.qid))

    def _load_vectors(self, conn: sqlite3.Connection, field: SearchField,
                      generation: int) -> _FieldVectors:
        tables = _TABLES[field]
        if tables.answer_field is None:
            rows = conn.execute(
                "SELECT r.id, r.qid, r.text, r.vector, i.topic, i.client_filter "
                "FROM questions r JOIN items i ON i.qid = r.qid ORDER BY r.qid, r.ordinal")
        else:
            rows = conn.execute(
                "SELECT r.id, r.qid, r.text, r.vector, i.topic, i.client_filter "
                "FROM answers r JOIN items i ON i.qid = r.qid WHERE r.field = ? ORDER BY r.qid",
                (tables.answer_field,))
        qids: list[str] = []
        topics: list[str] = []
        filters: list[tuple[str, ...]] = []
        starts: list[int] = []
        texts: list[str] = []
        blobs: list[bytes] = []
        ids: list[int] = []
        for row_id, qid, row_text, blob, topic, client_filter in rows:
            if not qids or qids[-1] != qid:
                qids.append(qid)
                topics.append(topic)
                filters.append(filter_terms(client_filter))
                starts.append(len(texts))
            ids.append(row_id)
            texts.append(row_text)
            blobs.append(blob)
        index = self._index_info(conn)
        dimension = index.dimension if index else 0
        vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dimension)
        return _FieldVectors(generation, dimension, qids, topics, filters,
                             np.asarray(starts, dtype=np.int64), vectors, texts,
                             np.asarray(ids, dtype=np.int64))
