"""The embedded store's vector index (big fields): the whole store contract through the index,
the same answers as exact search, and an index that is always consistent with the rows after
stale files, deletions, unreadable files and crashes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

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


def test_an_unreadable_index_file_is_rebuilt_from_the_rows(big, make_stored_items, index,
                                                           embeddings) -> None:
    with SqliteStore(big, index_min_rows=20) as store:
        store.put(make_stored_items([faq(n) for n in range(40)]), index=index)
    [path] = index_files(big)
    path.write_bytes(b"\x00garbage" * 100)

    with SqliteStore(big, index_min_rows=20) as store:
        text = f"How do I get a {WORDS[12]} {WORDS[0]} 12?"
        matches = store.search(SearchField.QUESTIONS, vector=embeddings.embed([text])[0],
                               text=None, k=3)
    assert matches[0].qid == "Faq.0012"
    [rebuilt] = index_files(big)
    assert rebuilt.read_bytes()[:8] != b"\x00garbage"


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
