"""The embedded SQLite store: the shared store contract, plus what only a file-backed store has
(persistence, several connections and processes on one file, corrupt files, locking)."""

from __future__ import annotations

import gc
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.store import SearchField, StoredItem, StoreError
from knowledge.stores import sqlite_store
from knowledge.stores.sqlite_store import (
    MAX_QUERY_TOKENS,
    SqliteStore,
    match_expression,
    query_words,
)
from tests.knowledge.store_contract import (
    FailingImport,
    StoreContract,
    failing_after,
    passage,
    qids,
    qna,
)

REPO = Path(__file__).resolve().parents[2]
#: Generous guard so a broken implementation fails instead of hanging; never reached otherwise.
DEADLOCK_GUARD_S = 30


class TestSqliteStoreContract(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqliteStore]:
        with SqliteStore(tmp_path / "knowledge.sqlite") as store:
            yield store


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "knowledge.sqlite"


def answers_seen(store: SqliteStore, qid_list: list[str]) -> set[str]:
    """Every answer text visible through get_many, list and iter_items."""
    seen = {item.answer for item in store.get_many(qid_list).values()}
    seen |= {item.answer for item in store.list(limit=1000).items}
    seen |= {item.answer for item in store.iter_items()}
    return seen


class PausedImport:
    """An import that stops after ``pause_after`` items until the test releases it."""

    def __init__(self, stored: list[StoredItem], pause_after: int):
        self.stored, self.pause_after = stored, pause_after
        self.paused, self.release = threading.Event(), threading.Event()
        self.errors: list[BaseException] = []

    def items(self) -> Iterator[StoredItem]:
        for n, stored in enumerate(self.stored):
            yield stored
            if n + 1 == self.pause_after:
                self.paused.set()
                self.release.wait(DEADLOCK_GUARD_S)

    def run_in_thread(self, store: SqliteStore, index) -> threading.Thread:
        def run() -> None:
            try:
                store.put(self.items(), index=index)
            except BaseException as exc:  # reported by the test
                self.errors.append(exc)
                self.paused.set()

        thread = threading.Thread(target=run)
        thread.start()
        assert self.paused.wait(DEADLOCK_GUARD_S), "the import never reached its pause"
        return thread

    def finish(self, thread: threading.Thread) -> None:
        self.release.set()
        thread.join(DEADLOCK_GUARD_S)
        assert not thread.is_alive()


def test_the_parent_folder_is_created_and_the_file_is_in_wal_mode(path) -> None:
    with SqliteStore(path):
        pass

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_items_and_index_info_persist_after_reopening(path, make_stored_items, index,
                                                      embeddings) -> None:
    with SqliteStore(path) as store:
        store.put(make_stored_items([qna("Keep.1", "Where is the lighthouse?", t="coast")]),
                  index=index)

    with SqliteStore(path) as reopened:
        assert reopened.index_info() == index
        assert reopened.get("Keep.1").topic == "coast"
        vector = embeddings.embed(["Where is the lighthouse?"])[0]
        [match] = reopened.search(SearchField.QUESTIONS, vector=vector, text="lighthouse", k=3)
        assert match.qid == "Keep.1" and match.keyword_score > 0


def test_writes_through_another_store_on_the_same_file_are_seen_by_search(
        path, make_stored_items, index, embeddings) -> None:
    reader, writer = SqliteStore(path), SqliteStore(path)
    reader.put(make_stored_items([qna("Old.1", "Where is the lighthouse?")]), index=index)
    vector = embeddings.embed(["When does the ferry leave?"])[0]
    assert qids(reader.search(SearchField.QUESTIONS, vector=vector, text=None, k=5)) == ["Old.1"]

    writer.put(make_stored_items([qna("New.1", "When does the ferry leave?")]), index=index)
    after_put = reader.search(SearchField.QUESTIONS, vector=vector, text=None, k=5)
    writer.delete(["Old.1"])
    after_delete = reader.search(SearchField.QUESTIONS, vector=vector, text=None, k=5)

    assert qids(after_put)[0] == "New.1" and after_put[0].vector_score == pytest.approx(1.0)
    assert qids(after_delete) == ["New.1"]
    reader.close()
    writer.close()


def test_a_file_that_is_not_a_database_raises_store_error_naming_it(path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("these are my notes, not a knowledge base\n" * 200)

    with pytest.raises(StoreError) as raised:
        SqliteStore(path)

    message = str(raised.value)
    assert str(path) in message
    assert "not a readable QnABot knowledge base" in message and "import" in message


def test_a_corrupt_database_raises_store_error_not_a_sqlite_traceback(
        path, make_stored_items, index) -> None:
    with SqliteStore(path) as store:
        store.put(make_stored_items([qna(f"C.{n}", f"question {n}") for n in range(50)]),
                  index=index)
    data = bytearray(path.read_bytes())
    data[100:] = b"\xde\xad\xbe\xef" * ((len(data) - 100) // 4 + 1)
    path.write_bytes(bytes(data[: len(path.read_bytes())]))  # same size, garbage pages

    def open_and_count() -> int:
        with SqliteStore(path) as store:
            return store.count()

    with pytest.raises(StoreError, match="not a readable QnABot knowledge base"):
        open_and_count()


def test_a_file_from_a_newer_layout_is_refused(path) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")

    with pytest.raises(StoreError, match="newer version"):
        SqliteStore(path)


def test_a_second_writer_locked_out_beyond_the_busy_timeout_gets_store_error(
        path, make_stored_items, index) -> None:
    store = SqliteStore(path)
    running = PausedImport(make_stored_items([qna("A.1", "one"), qna("A.2", "two")]), 1)
    thread = running.run_in_thread(store, index)
    impatient = SqliteStore(path, busy_timeout=0)
    try:
        with pytest.raises(StoreError, match="another process is writing") as raised:
            impatient.put(make_stored_items([qna("B.1", "three")]), index=index)
        with pytest.raises(StoreError):
            impatient.delete(["A.1"])
    finally:
        running.finish(thread)

    assert str(path) in str(raised.value)
    assert running.errors == []
    assert impatient.count() == 2
    store.close()
    impatient.close()


def test_readers_during_a_long_put_see_the_old_content_then_the_new_never_a_mix(
        path, make_stored_items, index, embeddings) -> None:
    names = [f"Item.{n}" for n in range(6)]
    store = SqliteStore(path)
    store.put(make_stored_items([qna(q, f"old question {q}", answer="old") for q in names]),
              index=index)
    other_process = SqliteStore(path)
    new = make_stored_items([qna(q, f"brand new question {q}", answer="new") for q in names])
    running = PausedImport(new, pause_after=3)
    vector = embeddings.embed(["brand new question Item.1"])[0]

    thread = running.run_in_thread(store, index)
    try:
        during = [answers_seen(reader, names) for reader in (store, other_process)]
        during_search = [
            reader.search(SearchField.QUESTIONS, vector=vector, text="brand", k=10)
            for reader in (store, other_process)]
    finally:
        running.finish(thread)

    assert running.errors == []
    assert during == [{"old"}, {"old"}]
    for matches in during_search:
        assert {m.keyword_score for m in matches} == {0.0}
        assert all(m.matched_text.startswith("old question") for m in matches)
    assert answers_seen(store, names) == answers_seen(other_process, names) == {"new"}
    after = other_process.search(SearchField.QUESTIONS, vector=vector, text="brand", k=10)
    assert after[0].qid == "Item.1" and after[0].keyword_score > 0
    store.close()
    other_process.close()


def test_a_search_inside_the_writers_own_put_does_not_leak_into_other_threads(
        path, make_stored_items, index, embeddings) -> None:
    store = SqliteStore(path)
    store.put(make_stored_items([qna("Old.1", "old question")]), index=index)
    vector = embeddings.embed(["uncommitted question"])[0]
    new = make_stored_items([qna("New.1", "uncommitted question")])

    def import_that_searches() -> Iterator[StoredItem]:
        yield from new
        own = store.search(SearchField.QUESTIONS, vector=vector, text=None, k=5)
        assert qids(own)[0] == "New.1"  # the writer sees its own writes
        paused.set()
        release.wait(DEADLOCK_GUARD_S)

    paused, release, errors = threading.Event(), threading.Event(), []

    def run() -> None:
        try:
            store.put(import_that_searches(), index=index)
        except BaseException as exc:
            errors.append(exc)
            paused.set()

    thread = threading.Thread(target=run)
    thread.start()
    assert paused.wait(DEADLOCK_GUARD_S)
    try:
        seen_by_others = store.search(SearchField.QUESTIONS, vector=vector, text=None, k=5)
    finally:
        release.set()
        thread.join(DEADLOCK_GUARD_S)

    assert errors == []
    assert qids(seen_by_others) == ["Old.1"]
    assert qids(store.search(SearchField.QUESTIONS, vector=vector, text=None, k=5))[0] == "New.1"
    store.close()


def test_a_process_killed_midway_through_a_put_leaves_the_old_content(
        path, make_stored_items, index) -> None:
    with SqliteStore(path) as store:
        store.put(make_stored_items([qna("Keep.1", "kept question", answer="old")]),
                  index=index)
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from knowledge.embeddings.hashing import HashingEmbeddings
        from knowledge.items import parse_item
        from knowledge.store import IndexInfo, StoredItem
        from knowledge.stores.sqlite_store import SqliteStore

        embeddings = HashingEmbeddings({index.dimension})

        def items():
            for n in range(3):
                item = parse_item({{"qid": f"Keep.{{n}}", "q": ["new"], "a": "new"}})
                yield StoredItem(item, embeddings.embed(["new"]), embeddings.embed(["new"])[0])
            os._exit(17)  # killed: no rollback, no close

        store = SqliteStore(Path({str(path)!r}))
        store.put(items(), replace_all=True, index=IndexInfo({index.model_id!r}, {index.dimension}))
    """)

    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                            text=True, timeout=120)

    assert result.returncode == 17, result.stderr
    with SqliteStore(path) as store:
        assert [(i.qid, i.answer) for i in store.iter_items()] == [("Keep.1", "old")]


def test_accents_and_word_forms_match_by_keywords(tmp_path, make_stored_items, index) -> None:
    with SqliteStore(tmp_path / "k.sqlite") as store:
        store.put(make_stored_items([qna("Cafe.1", "Where is the café?"),
                                     passage("Run.1", "The runners were running fast.")]),
                  index=index)

        assert qids(store.search(SearchField.QUESTIONS, vector=None, text="CAFE", k=5)) == [
            "Cafe.1"]
        assert qids(store.search(SearchField.PASSAGES, vector=None, text="run", k=5)) == [
            "Run.1"]


def test_iter_items_streams_past_one_page(tmp_path, make_stored_items, index) -> None:
    names = sorted(f"Q.{n:04d}" for n in range(1203))
    with SqliteStore(tmp_path / "k.sqlite") as store:
        store.put(make_stored_items([qna(q, "same question") for q in reversed(names)]),
                  index=index)

        assert [item.qid for item in store.iter_items()] == names


@pytest.mark.parametrize(("text", "expected"), [
    ("How do I reset my password?", '"how" OR "do" OR "i" OR "reset" OR "my" OR "password"'),
    ('NOT "x" AND y* OR NEAR(a b)', '"not" OR "x" OR "and" OR "y" OR "or" OR "near" OR "a" OR "b"'),
    ("col:umn ^start (group)", '"col" OR "umn" OR "start" OR "group"'),
    ("Reset reset RESET", '"reset"'),
    ("snake_case words", '"snake" OR "case" OR "words"'),
    ("今日の天気", '"今日の天気"'),
    ("🤖 !? \"\" ''", None),
    ("", None),
    (None, None),
])
def test_keyword_queries_quote_each_distinct_word(text, expected) -> None:
    assert match_expression(query_words(text)) == expected


def test_keyword_queries_cap_the_number_of_words() -> None:
    query = match_expression(query_words(" ".join(f"w{n}" for n in range(1000))))

    assert query.count(" OR ") == MAX_QUERY_TOKENS - 1


def test_words_common_to_most_texts_of_a_big_field_are_not_searched(
        tmp_path, make_stored_items, index, monkeypatch) -> None:
    monkeypatch.setattr(sqlite_store, "PRUNE_MIN_ROWS", 10)
    with SqliteStore(tmp_path / "k.sqlite") as store:
        store.put(make_stored_items(
            [qna(f"Common.{n:02d}", f"common question {n}") for n in range(30)]
            + [qna("Rare.1", "a rare walrus question")]), index=index)

        rare = store.search(SearchField.QUESTIONS, vector=None, text="walrus question", k=50)
        only_common = store.search(SearchField.QUESTIONS, vector=None, text="question", k=50)

    assert qids(rare) == ["Rare.1"]
    assert len(only_common) == 31


def test_vectors_of_the_wrong_shape_are_refused_and_nothing_is_written(
        tmp_path, make_stored_items, index) -> None:
    with SqliteStore(tmp_path / "k.sqlite") as store:
        store.put(make_stored_items([qna("Keep.1", "kept")]), index=index)
        [good] = make_stored_items([qna("New.1", "one", "two")])
        bad = StoredItem(good.item, good.question_vectors[:1], good.answer_vector)

        with pytest.raises(ValueError, match="New.1"):
            store.put([good, bad], index=index)

        assert [item.qid for item in store.iter_items()] == ["Keep.1"]


def test_searches_from_many_threads_during_writes_never_fail(
        path, make_stored_items, index, embeddings) -> None:
    store = SqliteStore(path)
    generations = [make_stored_items([qna(f"G{g}.{n}", f"question {n} of batch {g}")
                                      for n in range(10)]) for g in range(5)]
    store.put(generations[0], replace_all=True, index=index)
    vector = embeddings.embed(["question 3 of batch 2"])[0]
    start, errors, seen = threading.Barrier(5), [], []

    def search_repeatedly() -> None:
        try:
            start.wait(DEADLOCK_GUARD_S)
            for _ in range(25):
                matches = store.search(SearchField.QUESTIONS, vector=vector, text="batch", k=3)
                seen.append({m.qid.split(".")[0] for m in matches})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=search_repeatedly) for _ in range(4)]
    for thread in threads:
        thread.start()
    start.wait(DEADLOCK_GUARD_S)
    for batch in generations[1:]:
        store.put(batch, replace_all=True, index=index)
    for thread in threads:
        thread.join(DEADLOCK_GUARD_S)

    assert errors == []
    assert all(len(batches) == 1 for batches in seen)  # one generation per search, no mix
    store.close()


def test_connections_of_finished_threads_are_closed(path) -> None:
    store = SqliteStore(path)

    for _ in range(20):
        thread = threading.Thread(target=store.count)
        thread.start()
        thread.join(DEADLOCK_GUARD_S)
    gc.collect()

    assert store.open_connections == 1  # the main thread's
    store.close()
    assert store.open_connections == 0


def test_closing_the_store_while_another_thread_reads_does_not_crash(path) -> None:
    """A background classifier training reads the store while a test or a shutdown closes it:
    close must wait for the running statement instead of freeing it under the reader."""
    script = textwrap.dedent(f"""
        import threading
        from knowledge.stores.sqlite_store import SqliteStore
        store = SqliteStore({str(path)!r})
        stop = False
        def read():
            while not stop:
                try:
                    store.count()
                except Exception:
                    pass  # a closed connection may refuse a statement: that is fine
        readers = [threading.Thread(target=read) for _ in range(2)]
        for reader in readers:
            reader.start()
        for _ in range(5000):
            store.close()
        stop = True
        for reader in readers:
            reader.join()
        print("closed 5000 times")
    """)

    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                            text=True, timeout=120)

    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert "closed 5000 times" in result.stdout


def test_a_database_error_raised_by_the_callers_iterator_is_not_blamed_on_the_store(
        path, make_stored_items, index) -> None:
    store = SqliteStore(path)
    [stored] = make_stored_items([qna("New.1", "new")])

    def import_with_a_broken_embedding_cache() -> Iterator[StoredItem]:
        yield stored
        raise sqlite3.OperationalError("the embedding cache is locked")

    with pytest.raises(sqlite3.OperationalError, match="embedding cache"):
        store.put(import_with_a_broken_embedding_cache(), index=index)

    assert store.count() == 0
    store.close()


# -- batched writes ---------------------------------------------------------------------


def check_question_index(path: Path) -> None:
    """Fail unless the questions' keyword index holds exactly the stored questions."""
    with sqlite3.connect(path) as conn:  # raises "malformed" on a stale or missing entry
        conn.execute("INSERT INTO questions_fts (questions_fts, rank) VALUES ('integrity-check', 1)")


@pytest.fixture(params=[1, 2, 500], ids=lambda size: f"batches_of_{size}")
def write_batch(request, monkeypatch) -> int:
    """Run the test with items written one, two, or all at a time."""
    monkeypatch.setattr(sqlite_store, "WRITE_BATCH", request.param)
    return request.param


def test_a_qid_repeated_within_one_put_is_stored_once_and_the_last_one_wins(
        path, make_stored_items, index, write_batch) -> None:
    items = make_stored_items([
        qna("Dup.1", "first walrus"), qna("Dup.1", "second narwhal"), qna("A.1", "one"),
        qna("A.2", "two"), passage("Dup.1", "a passage about a seal"), qna("A.3", "three"),
        qna("Dup.1", "third octopus", answer="The last answer."),
    ])

    with SqliteStore(path) as store:
        store.put(items, index=index)

        assert [item.qid for item in store.iter_items()] == ["A.1", "A.2", "A.3", "Dup.1"]
        assert store.get("Dup.1").answer == "The last answer."
        assert store.search(SearchField.QUESTIONS, vector=None, text="walrus narwhal",
                            k=5) == []
        assert store.search(SearchField.PASSAGES, vector=None, text="seal", k=5) == []
        assert qids(store.search(SearchField.QUESTIONS, vector=None, text="octopus",
                                 k=5)) == ["Dup.1"]
        assert qids(store.search(SearchField.ANSWERS, vector=None, text="last", k=5)) == [
            "Dup.1"]
    check_question_index(path)


@pytest.mark.parametrize("replace_all", [False, True])
def test_a_failure_after_several_written_batches_leaves_the_store_as_it_was(
        path, make_stored_items, index, write_batch, replace_all) -> None:
    with SqliteStore(path) as store:
        store.put(make_stored_items([qna("Keep.1", "Where is the lighthouse?")]), index=index)
        before = [item.to_json() for item in store.iter_items()]
        changed = make_stored_items([qna("Keep.1", "A replaced question about tulips")] + [
            qna(f"New.{n}", f"new question {n} about tulips") for n in range(5)])

        with pytest.raises(FailingImport):
            store.put(failing_after(changed), replace_all=replace_all, index=index)

        assert [item.to_json() for item in store.iter_items()] == before
        assert store.search(SearchField.QUESTIONS, vector=None, text="tulips", k=10) == []
    check_question_index(path)


def test_reimporting_unchanged_items_leaves_them_stored_and_searchable(
        path, make_stored_items, index, embeddings, write_batch) -> None:
    raw = [qna(f"Same.{n}", f"question {n} about ferries", t="coast") for n in range(5)]
    raw.append(passage("Text.1", "The ferry leaves from the pier."))
    vector = embeddings.embed(["question 3 about ferries"])[0]

    with SqliteStore(path) as store:
        store.put(make_stored_items(raw), index=index)
        first = [item.to_json() for item in store.iter_items()]
        first_search = store.search(SearchField.QUESTIONS, vector=vector, text="ferries", k=3)

        assert store.put(make_stored_items(raw), index=index) == 6

        assert [item.to_json() for item in store.iter_items()] == first
        assert store.search(SearchField.QUESTIONS, vector=vector, text="ferries",
                            k=3) == first_search
        assert qids(store.search(SearchField.PASSAGES, vector=None, text="pier", k=3)) == [
            "Text.1"]
    check_question_index(path)


def test_an_unchanged_item_put_with_new_vectors_gets_the_new_vectors(
        path, make_stored_items, index, embeddings) -> None:
    [stored] = make_stored_items([qna("V.1", "Where is the lighthouse?")])
    other = embeddings.embed(["a question about something else"])
    with SqliteStore(path) as store:
        store.put([stored], index=index)

        store.put([StoredItem(stored.item, other, other[0])], index=index)

        [match] = store.search(SearchField.QUESTIONS, vector=other[0], text=None, k=3)
        [answer] = store.search(SearchField.ANSWERS, vector=other[0], text=None, k=3)
    assert match.vector_score == pytest.approx(1.0, abs=1e-5)
    assert answer.vector_score == pytest.approx(1.0, abs=1e-5)


def test_a_read_from_inside_a_put_sees_every_item_yielded_so_far(
        path, make_stored_items, index) -> None:
    first = make_stored_items([qna(f"First.{n}", f"early question {n}") for n in range(3)])
    later = make_stored_items([qna("Later.1", "late question")])
    seen: list[int] = []

    with SqliteStore(path) as store:
        def items_that_count() -> Iterator[StoredItem]:
            yield from first
            seen.append(store.count())
            seen.append(len(store.search(SearchField.QUESTIONS, vector=None, text="early",
                                         k=10)))
            yield from later

        assert store.put(items_that_count(), index=index) == 4
        assert store.count() == 4

    assert seen == [3, 3]
    check_question_index(path)


def test_the_keyword_index_follows_upserts_deletes_and_replace_all(
        path, make_stored_items, index, write_batch) -> None:
    with SqliteStore(path) as store:
        store.put(make_stored_items([qna(f"K.{n}", f"question {n}", f"other {n}")
                                     for n in range(6)]), index=index)
        store.put(make_stored_items([qna(f"K.{n}", f"changed {n}") for n in range(0, 6, 2)]),
                  index=index)
        check_question_index(path)
        store.delete(["K.1", "K.2", "Missing"])
        check_question_index(path)
        store.put(make_stored_items([qna("K.3", "kept"), qna("R.1", "replaced")]),
                  replace_all=True, index=index)

        assert [item.qid for item in store.iter_items()] == ["K.3", "R.1"]
        assert qids(store.search(SearchField.QUESTIONS, vector=None, text="kept replaced",
                                 k=5)) == ["K.3", "R.1"]
    check_question_index(path)
