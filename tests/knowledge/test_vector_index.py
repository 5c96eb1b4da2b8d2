"""The embedded store's vector index (big fields): the whole store contract through the index,
the same answers as exact search, and an index that is always consistent with the rows after
stale files, deletions, unreadable files and crashes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from knowledge.store import SearchField
from knowledge.stores import sqlite_store, vector_index
from knowledge.stores.sqlite_store import SqliteStore
from tests.knowledge.store_contract import StoreContract, qids, qna


class TestIndexedStoreContract(StoreContract):
    """Every field searched through its vector index, however small."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqliteStore]:
        with SqliteStore(tmp_path / "knowledge.sqlite", index_min_rows=1) as store:
            yield store


REPO = Path(__file__).resolve().parents[2]
WORDS = ("ferry bus tram ticket pass refund card night route stop fare student senior bike "
         "harbor airport late lost child dog luggage app wallet monthly weekly").split()


def faq(n: int, answer: str = "") -> dict:
    """A QnA item of two distinct questions made of a few transit words."""
    a, b, c = WORDS[n % 23], WORDS[(n // 23) % 23], WORDS[(n * 7 + 3) % 23]
    return qna(f"Faq.{n:04d}", f"How do I get a {a} {b} {n}?", f"{c} {a} question {n}",
               answer=answer or f"The {b} {c} answer number {n}.")


@pytest.fixture
def big(tmp_path: Path) -> Path:
    return tmp_path / "big" / "knowledge.sqlite"


def index_files(path: Path, field: str = "questions") -> list[Path]:
    return [p for _, p in vector_index.index_files(path, field)]


def test_indexed_search_finds_what_exact_search_finds(tmp_path, make_stored_items, index,
                                                      embeddings) -> None:
    stored = make_stored_items([faq(n) for n in range(300)])
    exact = SqliteStore(tmp_path / "exact.sqlite")
    indexed = SqliteStore(tmp_path / "indexed.sqlite", index_min_rows=100)
    for store in (exact, indexed):
        store.put(stored, index=index)
    assert index_files(tmp_path / "indexed.sqlite") and not index_files(tmp_path / "exact.sqlite")

    found = []
    for n in range(0, 300, 15):
        text = f"{WORDS[n % 23]} {WORDS[(n // 23) % 23]} ticket {n}"
        vector = embeddings.embed([text])[0]
        for field in (SearchField.QUESTIONS, SearchField.ANSWERS):
            # Many test vectors tie, so the k best are compared by score, not by qid.
            want = [m.vector_score for m in exact.search(field, vector=vector, text=None, k=10)]
            got = [m.vector_score for m in indexed.search(field, vector=vector, text=None, k=10)]
            found += [abs(w - g) < 1e-5 for w, g in zip(want, got, strict=True)]
            hybrid = {m.qid: m for m in indexed.search(field, vector=vector, text=text, k=10)}
            for match in exact.search(field, vector=vector, text=text, k=10):
                if match.qid in hybrid:  # what both found carries the same evidence
                    assert hybrid[match.qid].vector_score == pytest.approx(match.vector_score,
                                                                           abs=1e-5)
                    assert hybrid[match.qid].keyword_score == pytest.approx(match.keyword_score)
                    assert hybrid[match.qid].matched_text == match.matched_text
        assert (qids(exact.search(SearchField.QUESTIONS, vector=None, text=text, k=10))
                == qids(indexed.search(SearchField.QUESTIONS, vector=None, text=text, k=10)))
    assert sum(found) / len(found) >= 0.99
    exact.close()
    indexed.close()


def test_a_question_of_only_common_words_is_found_by_its_vector_in_an_indexed_field(
        big, make_stored_items, index, embeddings, monkeypatch) -> None:
    """FTS5 weighs each word by reading its whole list of texts: for "how much does it cost"
    among a million questions that took most of a second a turn. With a vector the index
    finds the candidates, and no keyword query runs."""
    monkeypatch.setattr(sqlite_store, "PRUNE_MIN_ROWS", 10)
    with SqliteStore(big, index_min_rows=1) as store:
        store.put(make_stored_items([qna(f"Common.{n:02d}", f"common question {n}")
                                     for n in range(30)]
                                    + [qna("Rare.1", "a rare walrus question")]), index=index)
        statements: list[str] = []
        store._connection().set_trace_callback(statements.append)

        hybrid = store.search(SearchField.QUESTIONS, vector=embeddings.embed(["question"])[0],
                              text="question", k=5)
        hybrid_statements = list(statements)
        keywords_only = store.search(SearchField.QUESTIONS, vector=None, text="question", k=50)

    assert len(hybrid) == 5 and all(m.keyword_score == 0.0 for m in hybrid)
    assert not [s for s in hybrid_statements if "bm25" in s]
    assert len(keywords_only) == 31  # without a vector, the texts holding every word


def test_an_index_appears_when_a_field_grows_big_and_goes_when_it_shrinks(
        big, make_stored_items, index) -> None:
    with SqliteStore(big, index_min_rows=50) as store:
        store.put(make_stored_items([faq(n) for n in range(20)]), index=index)
        assert index_files(big) == []
        store.put(make_stored_items([faq(n) for n in range(20, 40)]), index=index)
        assert len(index_files(big)) == 1  # 80 questions; answers (40 rows) stay exact
        assert index_files(big, "answers") == []
        store.delete([f"Faq.{n:04d}" for n in range(30)])
        assert index_files(big) == []
        assert qids(store.search(SearchField.QUESTIONS, vector=None, text="question 35",
                                 k=3))[0] == "Faq.0035"


def test_rows_written_after_the_index_are_added_to_it_and_deleted_ones_dropped(
        big, make_stored_items, index, embeddings, monkeypatch) -> None:
    monkeypatch.setattr(vector_index, "DELTA_MAX_ROWS", 10)
    with SqliteStore(big, index_min_rows=20) as store:
        store.put(make_stored_items([faq(n) for n in range(40)]), index=index)
        [(first_high, _)] = vector_index.index_files(big, "questions")
        store.put(make_stored_items([faq(n) for n in range(40, 44)]), index=index)
        assert vector_index.index_files(big, "questions")[0][0] == first_high  # small delta
        store.put(make_stored_items([faq(n) for n in range(44, 60)]), index=index)
        [(extended_high, _)] = vector_index.index_files(big, "questions")
        assert extended_high > first_high
        store.delete([f"Faq.{n:04d}" for n in range(0, 60, 2)])

        for n in (41, 43, 59):
            text = f"How do I get a {WORDS[n % 23]} {WORDS[(n // 23) % 23]} {n}?"
            matches = store.search(SearchField.QUESTIONS, vector=embeddings.embed([text])[0],
                                   text=None, k=5)
            assert matches[0].qid == f"Faq.{n:04d}" and matches[0].matched_text == text
            assert not {f"Faq.{m:04d}" for m in range(0, 60, 2)} & set(qids(matches))


def test_a_stale_index_file_still_gives_the_current_items_only(
        big, make_stored_items, index, embeddings) -> None:
    """A crash between the commit and the index update leaves an older index file."""
    with SqliteStore(big, index_min_rows=20) as store:
        store.put(make_stored_items([faq(n) for n in range(40)]), index=index)
        [stale] = index_files(big)
        kept = stale.read_bytes()
        store.put(make_stored_items([faq(n) for n in range(40, 50)]
                                    + [faq(7, answer="A brand new answer for seven.")]),
                  index=index)
        store.delete(["Faq.0003"])
    for path in index_files(big):
        path.unlink()
    stale.write_bytes(kept)

    with SqliteStore(big, index_min_rows=20) as store:
        for n in (3, 7, 45):
            text = f"How do I get a {WORDS[n % 23]} {WORDS[(n // 23) % 23]} {n}?"
            found = qids(store.search(SearchField.QUESTIONS, vector=embeddings.embed([text])[0],
                                      text=text, k=5))
            assert (f"Faq.{n:04d}" in found) == (n != 3)
        answers = store.search(SearchField.ANSWERS, vector=embeddings.embed(
            ["A brand new answer for seven."])[0], text=None, k=1)
        assert answers[0].qid == "Faq.0007"
        assert answers[0].matched_text == "A brand new answer for seven."


def first_question(n: int) -> str:
    return f"How do I get a {WORDS[n % 23]} {WORDS[(n // 23) % 23]} {n}?"


class HeldBuilds:
    """Index builds that wait until the test lets them go, counting how many began."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.began = threading.Event()
        self.go = threading.Event()
        self.count = 0
        build = vector_index.build_index

        def held(*args, **kwargs):
            self.count += 1
            self.began.set()
            if not self.go.wait(timeout=60):
                raise TimeoutError("the test never let the build go")
            return build(*args, **kwargs)

        monkeypatch.setattr(vector_index, "build_index", held)


def put_after_a_crash(store: SqliteStore, items: list, index) -> None:
    """A write whose index update never ran (its process died right after the commit)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SqliteStore, "_update_indexes_after_write", lambda self: None)
        store.put(items, index=index)


def indexed_field(store: SqliteStore, field: SearchField = SearchField.QUESTIONS):
    return store._cache[field]


def test_a_search_answers_from_a_stale_index_while_the_repair_runs_in_the_background(
        big, make_stored_items, index, embeddings, monkeypatch) -> None:
    monkeypatch.setattr(vector_index, "DELTA_MAX_ROWS", 10)
    monkeypatch.setattr(vector_index, "DELTA_SCAN_MAX_ROWS", 10)
    with SqliteStore(big, index_min_rows=20) as store:
        store.put(make_stored_items([faq(n) for n in range(40)]), index=index)
        [stale] = index_files(big)
        put_after_a_crash(store, make_stored_items([faq(n) for n in range(40, 60)]), index)
        held = HeldBuilds(monkeypatch)

        newest = store.search(SearchField.QUESTIONS, text=None, k=3,
                              vector=embeddings.embed([first_question(59)])[0])
        older = store.search(SearchField.QUESTIONS, text=first_question(42), k=3,
                             vector=embeddings.embed([first_question(42)])[0])

        assert held.began.wait(timeout=60) and not held.go.is_set()  # answered meanwhile
        assert newest[0].qid == "Faq.0059"  # among the newest rows, scanned exactly
        assert older[0].qid == "Faq.0042"  # past them: found by its keywords
        assert len(indexed_field(store).delta_ids) == 10  # 40 rows behind, 10 scanned
        assert index_files(big) == [stale]

        held.go.set()
        assert store.wait_for_index_repair(timeout=60)
        [repaired] = index_files(big)
        assert repaired != stale
        again = store.search(SearchField.QUESTIONS, text=None, k=3,
                             vector=embeddings.embed([first_question(42)])[0])
        assert again[0].qid == "Faq.0042"
        table = indexed_field(store)
        assert table.ann.path == repaired and not table.stale and len(table.delta_ids) == 0
        assert held.count == 2  # questions and answers (both behind), once each


def test_an_unreadable_index_file_still_answers_then_is_rebuilt_from_the_rows(
        big, make_stored_items, index, embeddings, monkeypatch) -> None:
    monkeypatch.setattr(vector_index, "DELTA_SCAN_MAX_ROWS", 10)
    with SqliteStore(big, index_min_rows=20) as store:
        store.put(make_stored_items([faq(n) for n in range(40)]), index=index)
    [path] = index_files(big)
    path.write_bytes(b"\x00garbage" * 100)
    held = HeldBuilds(monkeypatch)

    with SqliteStore(big, index_min_rows=20) as store:
        degraded = {n: store.search(SearchField.QUESTIONS, text=first_question(n), k=3,
                                    vector=embeddings.embed([first_question(n)])[0])
                    for n in (3, 12, 39)}
        assert held.began.wait(timeout=60) and index_files(big) == []
        assert indexed_field(store).ann is None
        for n, matches in degraded.items():
            assert matches[0].qid == f"Faq.{n:04d}"
            assert matches[0].vector_score == pytest.approx(1.0, abs=1e-5)  # rescored exactly

        held.go.set()
        assert store.wait_for_index_repair(timeout=60)
        [rebuilt] = index_files(big)
        assert rebuilt.read_bytes()[:8] != b"\x00garbage"
        matches = store.search(SearchField.QUESTIONS, text=None, k=3,
                               vector=embeddings.embed([first_question(12)])[0])
        assert matches[0].qid == "Faq.0012" and indexed_field(store).ann.path == rebuilt


def test_two_stores_on_one_file_do_not_both_repair_its_index(
        big, make_stored_items, index, embeddings, monkeypatch) -> None:
    monkeypatch.setattr(vector_index, "DELTA_MAX_ROWS", 10)
    with SqliteStore(big, index_min_rows=20) as store:
        store.put(make_stored_items([faq(n) for n in range(40)]), index=index)
        put_after_a_crash(store, make_stored_items([faq(n) for n in range(40, 60)]), index)
    held = HeldBuilds(monkeypatch)
    vector = embeddings.embed([first_question(50)])[0]

    with SqliteStore(big, index_min_rows=20) as one, SqliteStore(big, index_min_rows=20) as two:
        assert one.search(SearchField.QUESTIONS, vector=vector, text=None, k=3)[0].qid \
            == "Faq.0050"
        assert held.began.wait(timeout=60)
        # The other store (a process of its own would see the same lock) keeps serving.
        assert two.search(SearchField.QUESTIONS, vector=vector, text=None, k=3)[0].qid \
            == "Faq.0050"
        assert two.search(SearchField.QUESTIONS, vector=vector, text="ferry", k=3)
        assert two._repairer is None

        held.go.set()
        assert one.wait_for_index_repair(timeout=60)
        [repaired] = index_files(big)
        two.search(SearchField.QUESTIONS, vector=vector, text=None, k=3)
        assert indexed_field(two).ann.path == repaired and not indexed_field(two).stale
        assert held.count == 2  # questions and answers (both behind), once each


@pytest.fixture
def unindexed(big: Path, make_stored_items, index) -> Path:
    """A big store of 40 items (two fields past 20 rows) whose index files are gone."""
    with SqliteStore(big, index_min_rows=20) as store:
        store.put(make_stored_items([faq(n) for n in range(40)]), index=index)
    for path in index_files(big):
        path.unlink()
    return big


def test_a_search_does_not_repair_while_another_process_holds_the_maintenance_lock(
        big, unindexed, embeddings, monkeypatch) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from pathlib import Path
            from knowledge.stores.vector_index import maintenance_lock
            with maintenance_lock(Path({str(big)!r})):
                print("locked", flush=True)
                sys.stdin.readline()
        """)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        vector = embeddings.embed([first_question(7)])[0]
        with SqliteStore(big, index_min_rows=20) as store:
            assert store.search(SearchField.QUESTIONS, vector=vector, text=None,
                                k=3)[0].qid == "Faq.0007"
            assert store._repairer is None and index_files(big) == []
            holder.communicate("done\n", timeout=60)

            store.search(SearchField.QUESTIONS, vector=vector, text=None, k=3)  # looks again
            assert store.wait_for_index_repair(timeout=60)
            assert len(index_files(big)) == 1
    finally:
        if holder.poll() is None:
            holder.kill()


def test_closing_the_store_during_a_repair_abandons_it_without_a_partial_file(
        big, unindexed, embeddings, monkeypatch) -> None:
    held = HeldBuilds(monkeypatch)

    store = SqliteStore(big, index_min_rows=20)
    store.search(SearchField.QUESTIONS, vector=embeddings.embed(["ferry"])[0], text=None, k=3)
    assert held.began.wait(timeout=60)
    store.close()
    held.go.set()  # the build reads its next rows: the store is closed, so it stops

    assert store.wait_for_index_repair(timeout=60)
    assert index_files(big) == []
    assert not [p.name for p in big.parent.iterdir() if p.name.endswith(".tmp")]
    assert store.open_connections == 0


def test_a_process_exits_at_once_with_a_repair_running_and_leaves_no_partial_file(
        big, unindexed, index) -> None:
    script = textwrap.dedent(f"""
        import threading
        from pathlib import Path
        from knowledge.store import SearchField
        from knowledge.stores import vector_index
        from knowledge.stores.sqlite_store import SqliteStore

        began = threading.Event()
        def never_ending_build(*args, **kwargs):
            began.set()
            threading.Event().wait()
        vector_index.build_index = never_ending_build

        store = SqliteStore(Path({str(big)!r}), index_min_rows=20)
        found = store.search(SearchField.QUESTIONS, vector=[1.0] + [0.0] * {index.dimension - 1},
                             text=None, k=3)
        assert found and began.wait(60)
        print("answered")  # and exits (a CLI command done) without closing the store
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "answered" in result.stdout
    assert index_files(big) == []
    assert not [p.name for p in big.parent.iterdir() if p.name.endswith(".tmp")]


def test_row_ids_are_never_reused_after_the_newest_rows_are_deleted(
        big, make_stored_items, index) -> None:
    def largest_id() -> int:
        with sqlite3.connect(big) as conn:
            return conn.execute("SELECT max(id) FROM questions").fetchone()[0]

    with SqliteStore(big) as store:
        store.put(make_stored_items([faq(n) for n in range(5)]), index=index)
        before = largest_id()
        store.delete(["Faq.0004"])
        store.put(make_stored_items([faq(9)]), index=index)
        assert largest_id() > before
        store.put(make_stored_items([faq(n) for n in range(3)]), replace_all=True, index=index)
        assert largest_id() > before + 2


@pytest.mark.parametrize("killed", ["during the put", "after the commit"])
def test_a_process_killed_during_an_import_leaves_index_and_rows_consistent(
        big, make_stored_items, index, embeddings, killed) -> None:
    with SqliteStore(big, index_min_rows=20) as store:
        store.put(make_stored_items([faq(n) for n in range(40)]), index=index)
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from knowledge.embeddings.hashing import HashingEmbeddings
        from knowledge.items import parse_item
        from knowledge.store import IndexInfo, StoredItem
        from knowledge.stores.sqlite_store import SqliteStore

        embeddings = HashingEmbeddings({index.dimension})
        SqliteStore.update_indexes = lambda self: os._exit(17)  # killed after the commit

        def items():
            for n in range(30):
                question = f"replacement question {{n}}"
                item = parse_item({{"qid": f"New.{{n}}", "q": [question], "a": "new"}})
                yield StoredItem(item, embeddings.embed([question]), embeddings.embed(["new"])[0])
            if {killed == "during the put"}:
                os._exit(17)  # killed: no rollback, no close

        store = SqliteStore(Path({str(big)!r}), index_min_rows=20)
        store.put(items(), replace_all=True, index=IndexInfo({index.model_id!r}, {index.dimension}))
    """)

    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                            text=True, timeout=120)

    assert result.returncode == 17, result.stderr
    expected = ({f"New.{n}" for n in range(30)} if killed == "after the commit"
                else {f"Faq.{n:04d}" for n in range(40)})
    with SqliteStore(big, index_min_rows=20) as store:
        assert {item.qid for item in store.iter_items()} == expected
        for text in ("replacement question 12", f"How do I get a {WORDS[5]} {WORDS[0]} 5?"):
            found = qids(store.search(SearchField.QUESTIONS, vector=embeddings.embed([text])[0],
                                      text=None, k=5))
            assert found and set(found) <= expected


def test_index_files_are_as_private_as_the_store_file(big, make_stored_items, index) -> None:
    with SqliteStore(big, index_min_rows=20) as store:
        big.chmod(0o600)
        store.put(make_stored_items([faq(n) for n in range(40)]), index=index)
    [path] = index_files(big)
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("min_rows", [10_000, 1], ids=["exact", "indexed"])
def test_in_a_big_field_very_common_words_are_left_out_or_must_all_occur(
        tmp_path, make_stored_items, index, monkeypatch, min_rows) -> None:
    monkeypatch.setattr(sqlite_store, "PRUNE_MIN_ROWS", 10)
    monkeypatch.setattr(sqlite_store, "MAX_WORD_ROWS", 5)
    items = [qna(f"Common.{n:02d}", f"common question {n}" + (" ticket" if n < 3 else ""))
             for n in range(30)] + [qna("Rare.1", "a rare walrus question")]
    with SqliteStore(tmp_path / "k.sqlite", index_min_rows=min_rows) as store:
        store.put(make_stored_items(items), index=index)

        def found(text: str) -> list[str]:
            return qids(store.search(SearchField.QUESTIONS, vector=None, text=text, k=50))

        assert found("walrus question") == ["Rare.1"]  # "question" is in 31 texts: left out
        assert sorted(found("common ticket")) == ["Common.00", "Common.01", "Common.02"]
        assert sorted(found("common question ticket")) == ["Common.00", "Common.01",
                                                           "Common.02"]
        assert len(found("common question")) == 30  # only common words: texts with both


def test_a_store_written_by_the_previous_layout_is_upgraded_in_place(
        big, make_stored_items, index) -> None:
    with SqliteStore(big) as store:
        store.put(make_stored_items([faq(n) for n in range(3)]), index=index)
    with sqlite3.connect(big) as conn:  # what layout 1 files look like: no id floor
        conn.execute("DROP TABLE id_floor")
        conn.execute("PRAGMA user_version = 1")

    with SqliteStore(big) as store:
        store.put(make_stored_items([faq(3)]), index=index)
        assert store.count() == 4
        assert qids(store.search(SearchField.QUESTIONS, vector=None, text="question 3",
                                 k=1)) == ["Faq.0003"]


def test_a_process_that_searches_a_big_store_before_embedding_can_still_load_the_model(
        big, make_stored_items, index) -> None:
    """onnxruntime used to crash the process when imported after the index library."""
    with SqliteStore(big, index_min_rows=20) as store:
        store.put(make_stored_items([faq(n) for n in range(40)]), index=index)
    script = textwrap.dedent(f"""
        from pathlib import Path
        from knowledge.store import SearchField
        from knowledge.stores.sqlite_store import SqliteStore
        store = SqliteStore(Path({str(big)!r}), index_min_rows=20)
        store.search(SearchField.QUESTIONS, vector=[1.0] + [0.0] * {index.dimension - 1},
                     text=None, k=3)
        import onnxruntime
        print("model runtime loaded")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "model runtime loaded" in result.stdout


def test_stores_on_the_same_file_share_one_mapping_of_its_index(big, make_stored_items,
                                                                index, embeddings) -> None:
    """Pages of a memory-mapped index count once in the process, however many stores."""
    with SqliteStore(big, index_min_rows=20) as writer:
        writer.put(make_stored_items([faq(n) for n in range(40)]), index=index)
    vector = embeddings.embed(["a ferry ticket"])[0]
    with SqliteStore(big, index_min_rows=20) as one, SqliteStore(big, index_min_rows=20) as two:
        for store in (one, two):
            store.search(SearchField.QUESTIONS, vector=vector, text=None, k=3)
        assert (one._indexes[SearchField.QUESTIONS].index
                is two._indexes[SearchField.QUESTIONS].index)


def test_the_same_rows_give_the_same_index_every_time() -> None:
    """A parallel build links nodes in whatever order its threads run; a knowledge base of
    ordinary size must answer the same questions the same way after every rebuild."""
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((600, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    found = {vector_index.build_index([(np.arange(600), vectors)], 64)
             .search(vectors[:50], 10).keys.tobytes() for _ in range(4)}

    assert len(found) == 1
