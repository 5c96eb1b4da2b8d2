"""The behaviour every :class:`~knowledge.store.Store` adapter must have.

Subclass :class:`StoreContract` in an adapter's test module and provide a ``store`` fixture
that yields a new, empty store::

    class TestSqliteStoreContract(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            with SqliteStore(tmp_path / "knowledge.sqlite") as store:
                yield store

The tests also use the fixtures ``embeddings``, ``index``, ``make_stored_items`` and
``sample_items`` of ``tests/knowledge/conftest.py``; a test module outside ``tests/knowledge``
imports them from there. The class name does not start with ``Test``, so pytest only runs it
through such subclasses.
Nothing here knows which backend it tests. Scores are compared by order and sign only
(BM25 scales differ between backends); vector scores are cosine similarities.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import pytest

from knowledge.embeddings.hashing import HashingEmbeddings
from knowledge.store import (
    DimensionMismatchError,
    FieldMatch,
    IndexInfo,
    SearchField,
    Store,
    StoredItem,
)
from tests.knowledge.conftest import load_package

Raw = dict[str, Any]
MakeStored = Callable[[Iterable[Any]], list[StoredItem]]


def qna(qid: str, *questions: str, answer: str = "", **fields: Any) -> Raw:
    """A QnA item's JSON; the answer defaults to one naming the qid."""
    return {"qid": qid, "q": list(questions), "a": answer or f"The answer of {qid}.", **fields}


def passage(qid: str, text: str, **fields: Any) -> Raw:
    """A text item's JSON."""
    return {"qid": qid, "type": "text", "passage": text, **fields}


class FailingImport(Exception):
    """Raised by a test iterator to stand for an import that fails midway."""


def failing_after(stored: list[StoredItem]) -> Iterator[StoredItem]:
    """Yield ``stored``, then fail the way a corrupt file found midway does."""
    yield from stored
    raise FailingImport("corrupt file")


def snapshot(store: Store) -> list[dict[str, Any]]:
    """Every item's JSON, in qid order: what "the store is unchanged" compares."""
    return [item.to_json() for item in store.iter_items()]


def qids(matches: list[FieldMatch]) -> list[str]:
    return [m.qid for m in matches]


def assert_same_directions(stored: np.ndarray, original: np.ndarray) -> None:
    """Row by row, ``stored`` points where ``original`` does (stores may keep unit vectors)."""
    assert stored.dtype == np.float32 and stored.shape == original.shape
    norms = np.linalg.norm(stored, axis=1) * np.linalg.norm(original, axis=1)
    assert np.einsum("ij,ij->i", stored, original) / norms == pytest.approx(1.0, abs=1e-5)


HOSTILE_TEXTS = [
    '"',
    '"unbalanced quote',
    "it's O'Reilly's \"quoted\" text",
    "AND",
    "OR OR OR",
    "NOT reset",
    "reset AND NOT password OR NEAR(reset password, 2)",
    "NEAR",
    "pass* word*",
    "*",
    "qid:Reset.1 text:reset",
    "^reset",
    "(((reset",
    "reset)))",
    "{reset password}",
    "- + : ; , . ! ? \\ / | & ~ ` @ # $ % = < >",
    "🤖🔥 reset 👍🏽 password 🇯🇵",
    "\u200b\u200d\ufeff",
    "\x00 reset \x01",
    "   ",
    "",
    "reset " * 2000,
    "x" * 10_000,
    " ".join(f"word{n}" for n in range(3000)),
    "今日の天気を教えてください AND OR \"\"",
]


class StoreContract:
    """Tests every store must pass. Subclasses provide the ``store`` fixture."""

    @pytest.fixture
    def store(self) -> Store:  # pragma: no cover - provided by subclasses
        raise NotImplementedError("subclass StoreContract and provide a `store` fixture")

    @pytest.fixture
    def put(self, store: Store, make_stored_items: MakeStored,
            index: IndexInfo) -> Callable[..., int]:
        """``put(raw, raw, ..., replace_all=False)`` embeds and writes items."""
        return lambda *raw, replace_all=False: store.put(
            make_stored_items(raw), replace_all=replace_all, index=index)

    # -- writing and reading items --------------------------------------------------------

    def test_a_new_store_is_empty_and_has_no_index_info(self, store: Store) -> None:
        assert store.index_info() is None
        assert store.count() == 0
        assert list(store.iter_items()) == []
        assert store.list().total == 0

    def test_put_then_get_returns_the_item_json_with_unknown_fields(self, store, put) -> None:
        raw = qna("Extra.1", "What is kept?", t="storage", clientFilterValues="web",
                  r={"title": "Card", "buttons": [{"text": "Yes", "value": "yes"}]},
                  elicitResponse={"responsebot_hook": "QnAYesNoBot"}, customField=[1, {"a": None}])

        assert put(raw) == 1

        assert store.get("Extra.1").to_json() == {**raw, "type": "qna"}

    def test_put_returns_how_many_items_it_wrote(self, put) -> None:
        assert put(qna("A.1", "one"), qna("A.2", "two"), passage("P.1", "three")) == 3

    def test_get_many_leaves_out_missing_qids(self, store, put) -> None:
        put(qna("A.1", "one"), qna("A.2", "two"))

        found = store.get_many(["A.2", "Missing", "A.1"])

        assert sorted(found) == ["A.1", "A.2"]
        assert found["A.2"].questions == ("two",)
        assert store.get("Missing") is None
        assert store.get_many([]) == {}

    def test_index_info_records_the_model_of_the_vectors(self, store, put, index) -> None:
        put(qna("A.1", "one"))

        assert store.index_info() == index

    def test_upsert_replaces_the_items_questions(self, store, put, embeddings) -> None:
        put(qna("Barn.1", "Where is the red barn?", "Who painted the barn?"))
        put(qna("Barn.1", "How do I reset my password?", answer="Use the reset link."))

        assert store.count() == 1
        assert store.get("Barn.1").questions == ("How do I reset my password?",)
        assert store.search(SearchField.QUESTIONS, vector=None, text="barn painted", k=5) == []
        old = embeddings.embed(["Where is the red barn?"])[0]
        [match] = store.search(SearchField.QUESTIONS, vector=old, text=None, k=5)
        assert match.matched_text == "How do I reset my password?"
        assert match.vector_score < 0.9
        [answer] = store.search(SearchField.ANSWERS, vector=None, text="link", k=5)
        assert answer.qid == "Barn.1"

    def test_upsert_can_turn_a_qna_item_into_a_text_item(self, store, put) -> None:
        put(qna("Item.1", "Where is the ferry?", answer="At the pier."))
        put(passage("Item.1", "The ferry leaves from the pier."))

        assert store.get("Item.1").kind == "text"
        assert store.search(SearchField.QUESTIONS, vector=None, text="ferry", k=5) == []
        assert store.search(SearchField.ANSWERS, vector=None, text="pier", k=5) == []
        assert qids(store.search(SearchField.PASSAGES, vector=None, text="pier", k=5)) == [
            "Item.1"]

    def test_replace_all_removes_every_other_item(self, store, put) -> None:
        put(qna("Old.1", "old question about gardens"), qna("Keep.1", "kept question"))

        assert put(qna("Keep.1", "kept question, new words"), qna("New.1", "fresh"),
                   replace_all=True) == 2

        assert [item.qid for item in store.iter_items()] == ["Keep.1", "New.1"]
        assert store.get("Old.1") is None
        assert store.search(SearchField.QUESTIONS, vector=None, text="gardens", k=5) == []

    def test_replace_all_may_switch_to_another_embeddings_model(self, store, put) -> None:
        put(qna("A.1", "one question"))
        other = HashingEmbeddings(dimension=32)
        other_index = IndexInfo(other.model_id, other.dimension)
        from_other_model = [StoredItem(
            item=store.get("A.1"),
            question_vectors=other.embed(["one question"]),
            answer_vector=other.embed(["The answer of A.1."], "a")[0],
        )]

        store.put(from_other_model, replace_all=True, index=other_index)

        assert store.index_info() == other_index
        [match] = store.search(SearchField.QUESTIONS, vector=other.embed(["one question"])[0],
                               text=None, k=3)
        assert match.qid == "A.1"
        assert match.vector_score == pytest.approx(1.0, abs=1e-4)

    def test_put_from_another_model_without_replace_all_raises_and_writes_nothing(
            self, store, put, index) -> None:
        put(qna("A.1", "one question"))
        other = HashingEmbeddings(dimension=32)
        stored = [StoredItem(item=store.get("A.1"), question_vectors=other.embed(["x"]),
                             answer_vector=other.embed(["y"])[0])]
        before = snapshot(store)

        with pytest.raises(DimensionMismatchError) as raised:
            store.put(stored, index=IndexInfo(other.model_id, other.dimension))

        assert raised.value.stored == index
        assert store.index_info() == index
        assert snapshot(store) == before

    @pytest.mark.parametrize("replace_all", [False, True])
    def test_an_import_failing_midway_leaves_the_store_as_it_was(
            self, store, put, make_stored_items, index, embeddings, replace_all) -> None:
        put(qna("Keep.1", "Where is the lighthouse?"), qna("Keep.2", "When does it open?"))
        before = snapshot(store)
        changed = make_stored_items([qna("Keep.1", "A replaced question about tulips"),
                                     qna("New.1", "A new question about tulips")])

        with pytest.raises(FailingImport):
            store.put(failing_after(changed), replace_all=replace_all, index=index)

        assert snapshot(store) == before
        assert store.search(SearchField.QUESTIONS, vector=None, text="tulips", k=5) == []
        lighthouse = embeddings.embed(["Where is the lighthouse?"])[0]
        best = store.search(SearchField.QUESTIONS, vector=lighthouse, text=None, k=5)[0]
        assert (best.qid, best.matched_text) == ("Keep.1", "Where is the lighthouse?")

    def test_delete_returns_how_many_existed_and_removes_them_from_search(
            self, store, put) -> None:
        put(qna("A.1", "unicorn stables"), qna("A.2", "dragon stables"), qna("A.3", "other"))

        assert store.delete(["A.1", "Missing", "A.1", "A.2"]) == 2

        assert [item.qid for item in store.iter_items()] == ["A.3"]
        assert store.search(SearchField.QUESTIONS, vector=None, text="stables", k=5) == []
        assert store.delete([]) == 0

    def test_count_follows_puts_and_deletes(self, store, put) -> None:
        put(*(qna(f"C.{n}", f"question {n}") for n in range(5)), passage("P.1", "text"))
        assert store.count() == 6
        store.delete(["C.0", "P.1"])
        assert store.count() == 4

    def test_iter_items_yields_every_item_sorted_by_qid(self, store, put) -> None:
        names = [f"Item.{n:03d}" for n in (7, 3, 11, 0, 5, 2, 9)] + ["a.lower", "Z.upper", "0.x"]
        put(*(qna(qid, f"question of {qid}") for qid in names))

        assert [item.qid for item in store.iter_items()] == sorted(names)

    # -- stored vectors (what the classifier trains on) -----------------------------------

    def test_iter_stored_gives_each_matchable_item_the_vectors_put_for_it(
            self, store, put, embeddings) -> None:
        slot_type = {"qid": "Colors", "type": "slottype", "descr": "ticket office colors",
                     "slotTypeValues": [{"samplevalue": "ticket office"}]}
        put(qna("Open.2", "Where is the ticket office?", "When does it open?",
                answer="At nine."), passage("Map.1", "The office is by the pier."), slot_type,
            qna("Open.1", "Is there a lift?"))

        stored = {s.item.qid: s for s in store.iter_stored()}

        assert list(stored) == ["Map.1", "Open.1", "Open.2"]
        assert stored["Open.2"].item.questions == ("Where is the ticket office?",
                                                   "When does it open?")
        assert_same_directions(stored["Open.2"].question_vectors, embeddings.embed(
            ["Where is the ticket office?", "When does it open?"], "q"))
        assert_same_directions(stored["Open.2"].answer_vector[None, :],
                               embeddings.embed(["At nine."], "a"))
        assert stored["Map.1"].question_vectors.shape == (0, embeddings.dimension)
        assert_same_directions(stored["Map.1"].answer_vector[None, :],
                               embeddings.embed(["The office is by the pier."], "a"))

    def test_iter_stored_gives_the_vectors_of_the_latest_upsert(
            self, store, put, embeddings) -> None:
        put(qna("Barn.1", "Where is the red barn?", "Who painted the barn?"))
        put(qna("Barn.1", "How do I reset my password?"))

        [stored] = store.iter_stored()

        assert_same_directions(stored.question_vectors,
                               embeddings.embed(["How do I reset my password?"], "q"))

    def test_iter_stored_on_an_empty_store_yields_nothing(self, store) -> None:
        assert list(store.iter_stored()) == []

    # -- listing --------------------------------------------------------------------------

    WILDCARD_QIDS = ["50%_off.1", "50%_off.2", "500_off", "5000off", "50X_off", "sale_50%",
                     "back\\slash", "plain", "a*b", "Sale.Big"]

    @pytest.mark.parametrize(("qid_filter", "prefix", "expected"), [
        ("50%_off", False, ["50%_off.1", "50%_off.2"]),
        ("50%", True, ["50%_off.1", "50%_off.2"]),
        ("%", False, ["50%_off.1", "50%_off.2", "sale_50%"]),
        ("_", False, ["50%_off.1", "50%_off.2", "500_off", "50X_off", "sale_50%"]),
        ("_off", False, ["50%_off.1", "50%_off.2", "500_off", "50X_off"]),
        ("%", True, []),
        ("\\", False, ["back\\slash"]),
        ("*", False, ["a*b"]),
        (".*", False, []),
        ("off", True, []),
        ("", False, sorted(WILDCARD_QIDS)),
    ])
    def test_list_filter_is_plain_text_not_a_pattern(self, store, put, qid_filter, prefix,
                                                      expected) -> None:
        put(*(qna(qid, f"question of {qid}") for qid in self.WILDCARD_QIDS))

        page = store.list(qid_filter=qid_filter, prefix=prefix)

        assert [item.qid for item in page.items] == expected
        assert page.total == len(expected)

    def test_list_filter_is_case_sensitive_like_qnabots_qid_field(self, store, put) -> None:
        put(*(qna(qid, f"question of {qid}") for qid in self.WILDCARD_QIDS))

        assert [i.qid for i in store.list(qid_filter="Sale").items] == ["Sale.Big"]
        assert [i.qid for i in store.list(qid_filter="sale", prefix=True).items] == ["sale_50%"]

    def test_list_pages_through_sorted_items_and_reports_the_total(self, store, put) -> None:
        names = [f"Page.{n}" for n in "gbfaecd"] + ["Other.1"]
        put(*(qna(qid, f"question of {qid}") for qid in names))

        pages = [store.list(qid_filter="Page.", prefix=True, offset=offset, limit=3)
                 for offset in (0, 3, 6, 9)]

        assert [len(p.items) for p in pages] == [3, 3, 1, 0]
        assert {p.total for p in pages} == {7}
        assert [i.qid for p in pages for i in p.items] == sorted(names[:-1])

    # -- search ---------------------------------------------------------------------------

    def test_search_on_an_empty_store_finds_nothing(self, store, embeddings) -> None:
        vector = embeddings.embed(["anything"])[0]
        for field in SearchField:
            assert store.search(field, vector=vector, text="anything", k=5) == []
            assert store.search(field, vector=None, text="anything", k=5) == []

    def test_a_vector_identical_question_ranks_first(self, store, put, embeddings) -> None:
        put(qna("Reset.1", "How do I reset my password?", "I forgot my login", t="account"),
            qna("Hours.1", "When are you open?", "What are your opening hours?"),
            qna("Ship.1", "How long does shipping take?"))
        vector = embeddings.embed(["What are your opening hours?"])[0]

        matches = store.search(SearchField.QUESTIONS, vector=vector, text=None, k=3)

        assert matches[0].qid == "Hours.1"
        assert matches[0].vector_score == pytest.approx(1.0, abs=1e-4)
        assert matches[0].matched_text == "What are your opening hours?"
        assert [m.vector_score for m in matches] == sorted(
            (m.vector_score for m in matches), reverse=True)
        assert {m.qid: m.topic for m in matches}["Reset.1"] == "account"

    def test_vector_scores_are_the_best_cosine_over_the_items_questions(
            self, store, put, embeddings) -> None:
        questions = ["Where can I park?", "Is parking free?", "Do you validate tickets?"]
        put(qna("Park.1", *questions))
        query = embeddings.embed(["free parking for visitors"])[0]

        [match] = store.search(SearchField.QUESTIONS, vector=query, text=None, k=1)

        cosines = embeddings.embed(questions) @ query
        assert match.vector_score == pytest.approx(float(cosines.max()), abs=1e-5)
        assert match.matched_text == questions[int(cosines.argmax())]

    def test_k_limits_the_vector_candidates(self, store, put, embeddings) -> None:
        put(*(qna(f"Many.{n}", f"question number {n} about topic {n}") for n in range(12)))
        vector = embeddings.embed(["question number 3 about topic 3"])[0]

        matches = store.search(SearchField.QUESTIONS, vector=vector, text=None, k=4)

        assert len(matches) == 4
        assert matches[0].qid == "Many.3"

    def test_equal_scores_are_ordered_by_qid(self, store, put, embeddings) -> None:
        put(*(qna(qid, "Identical question text") for qid in ("Dup.c", "Dup.a", "Dup.b")))
        vector = embeddings.embed(["Identical question text"])[0]

        matches = store.search(SearchField.QUESTIONS, vector=vector, text=None, k=3)

        assert qids(matches) == ["Dup.a", "Dup.b", "Dup.c"]

    def test_keyword_only_search_finds_the_item_with_a_rare_word(self, store, put) -> None:
        put(qna("Zep.1", "When did the zeppelin first fly?"),
            qna("Fly.1", "When does the first flight leave?"),
            qna("Gen.1", "When did the store first open?"))

        matches = store.search(SearchField.QUESTIONS, vector=None, text="zeppelin history",
                               k=5)

        assert qids(matches) == ["Zep.1"]
        assert matches[0].vector_score == 0.0
        assert matches[0].keyword_score > 0.0
        assert matches[0].matched_text == "When did the zeppelin first fly?"

    def test_keyword_only_results_are_best_bm25_first(self, store, put) -> None:
        put(qna("Both.1", "the zeppelin hangar tour"), qna("One.1", "the zeppelin museum"),
            *(qna(f"Other.{n}", f"the museum cafe {n}") for n in range(4)))

        matches = store.search(SearchField.QUESTIONS, vector=None, text="zeppelin hangar",
                               k=5)

        assert qids(matches) == ["Both.1", "One.1"]
        assert matches[0].keyword_score > matches[1].keyword_score > 0.0

    def test_search_returns_the_union_of_vector_and_keyword_candidates_with_both_scores(
            self, store, put, embeddings) -> None:
        put(qna("Reset.1", "How do I reset my password?"),
            qna("Zep.1", "When did the zeppelin first fly?"),
            qna("Hours.1", "When are you open?"))
        vector = embeddings.embed(["How do I reset my password?"])[0]

        matches = store.search(SearchField.QUESTIONS, vector=vector, text="zeppelin", k=1)

        by_qid = {m.qid: m for m in matches}
        assert qids(matches) == ["Reset.1", "Zep.1"]
        assert by_qid["Reset.1"].keyword_score == 0.0
        assert by_qid["Zep.1"].keyword_score > 0.0
        zeppelin = embeddings.embed(["When did the zeppelin first fly?"])[0]
        assert by_qid["Zep.1"].vector_score == pytest.approx(float(zeppelin @ vector), abs=1e-5)
        assert by_qid["Zep.1"].matched_text == "When did the zeppelin first fly?"

    def test_a_vector_candidate_gets_its_bm25_when_a_query_word_occurs_in_it(
            self, store, put, embeddings) -> None:
        put(qna("Reset.1", "How do I reset my password?"),
            qna("Zep.1", "password of the zeppelin zeppelin club"),
            *(qna(f"Other.{n}", f"unrelated question {n}") for n in range(4)))
        vector = embeddings.embed(["How do I reset my password?"])[0]

        matches = store.search(SearchField.QUESTIONS, vector=vector, text="zeppelin password",
                               k=1)

        by_qid = {m.qid: m for m in matches}
        assert set(by_qid) == {"Reset.1", "Zep.1"}
        assert by_qid["Reset.1"].keyword_score > 0.0

    @pytest.mark.parametrize(("client_filter", "expected"), [
        (None, ["Open.1"]),
        ("", ["Open.1"]),
        ("kiosk", ["Open.1"]),
        ("mobile", ["Mobile.1", "Open.1"]),
        ("web", ["Mobile.1", "Open.1", "Web.1"]),
        ("web,mobile", ["Open.1"]),
    ])
    def test_client_filter_hides_items_meant_for_other_clients(
            self, store, put, embeddings, client_filter, expected) -> None:
        put(qna("Open.1", "Where is the ticket office?"),
            qna("Web.1", "Where is the ticket office?", clientFilterValues="web"),
            qna("Mobile.1", "Where is the ticket office?", clientFilterValues="web, mobile"),
            passage("Text.1", "The ticket office is by the gate.", clientFilterValues="web"))
        vector = embeddings.embed(["Where is the ticket office?"])[0]

        hybrid = store.search(SearchField.QUESTIONS, vector=vector, text="ticket office", k=5,
                              client_filter=client_filter)
        keywords = store.search(SearchField.QUESTIONS, vector=None, text="ticket office", k=5,
                                client_filter=client_filter)

        assert sorted(qids(hybrid)) == expected
        assert sorted(qids(keywords)) == expected

    @pytest.mark.parametrize(("client_filter", "expected"), [
        ("engineering", ["Eng.1", "Open.1"]),
        ("SCI", ["Eng.1", "Open.1"]),
        (" Engineering ", ["Eng.1", "Open.1"]),
        ("staff", ["Eng.1", "Open.1"]),
        ("engineering sci", ["Open.1"]),
        ("eng", ["Open.1"]),
    ])
    def test_client_filter_matches_words_ignoring_case_as_qnabot_does(
            self, store, put, embeddings, client_filter, expected) -> None:
        put(qna("Open.1", "Where is the lab?"),
            qna("Eng.1", "Where is the lab?", clientFilterValues="Engineering Sci, STAFF-only"))
        vector = embeddings.embed(["Where is the lab?"])[0]

        found = store.search(SearchField.QUESTIONS, vector=vector, text="lab", k=5,
                             client_filter=client_filter)

        assert sorted(qids(found)) == expected

    def test_slot_type_items_are_kept_but_never_matched(self, store, put, embeddings) -> None:
        slot_type = {"qid": "Colors", "type": "slottype", "descr": "ticket office colors",
                     "slotTypeValues": [{"samplevalue": "ticket office"}]}
        put(qna("Open.1", "Where is the ticket office?"), slot_type)
        vector = embeddings.embed(["ticket office colors"])[0]

        for field in SearchField:
            assert "Colors" not in qids(store.search(field, vector=vector, text="ticket office "
                                                     "colors", k=5))
        assert store.get("Colors").to_json() == slot_type
        assert store.count() == 2

    def test_client_filter_applies_to_passages(self, store, put, embeddings) -> None:
        put(passage("Open.1", "The ticket office is by the gate."),
            passage("Web.1", "The ticket office is by the gate.", clientFilterValues="web"))
        vector = embeddings.embed(["ticket office gate"], "a")[0]

        assert qids(store.search(SearchField.PASSAGES, vector=vector, text="ticket", k=5)) == [
            "Open.1"]
        assert qids(store.search(SearchField.PASSAGES, vector=vector, text="ticket", k=5,
                                 client_filter="web")) == ["Open.1", "Web.1"]

    def test_each_field_searches_only_its_own_texts(self, store, put, embeddings) -> None:
        wall = "Humpty Dumpty sat on a wall"
        put(qna("Q.1", wall, answer="He fell."),
            qna("A.1", "What happened?", answer=wall),
            passage("P.1", wall))
        vector = embeddings.embed([wall])[0]

        found = {field: store.search(field, vector=vector, text="humpty wall", k=5)
                 for field in SearchField}
        only_keywords = {field: store.search(field, vector=None, text="humpty wall", k=5)
                         for field in SearchField}

        for results in (found, only_keywords):
            assert qids(results[SearchField.QUESTIONS])[0] == "Q.1"
            assert qids(results[SearchField.ANSWERS])[0] == "A.1"
            assert "P.1" not in qids(results[SearchField.QUESTIONS] + results[SearchField.ANSWERS])
            assert qids(results[SearchField.PASSAGES]) == ["P.1"]
        assert qids(only_keywords[SearchField.QUESTIONS]) == ["Q.1"]
        assert qids(only_keywords[SearchField.ANSWERS]) == ["A.1"]
        assert found[SearchField.PASSAGES][0].matched_text == wall
        assert found[SearchField.ANSWERS][0].matched_text == wall

    @pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=range(len(HOSTILE_TEXTS)))
    def test_hostile_query_text_never_raises(self, store, put, embeddings, text) -> None:
        put(qna("Reset.1", "How do I reset my password?"), passage("P.1", "Reset the router."))
        vector = embeddings.embed(["reset password"])[0]

        for field in SearchField:
            with_vector = store.search(field, vector=vector, text=text, k=5)
            keywords_only = store.search(field, vector=None, text=text, k=5)
            assert isinstance(with_vector, list) and isinstance(keywords_only, list)
        assert qids(store.search(SearchField.QUESTIONS, vector=vector, text=text, k=5)) == [
            "Reset.1"]

    def test_blank_text_means_vector_only_search(self, store, put, embeddings) -> None:
        put(qna("Reset.1", "How do I reset my password?"))
        vector = embeddings.embed(["reset password"])[0]

        for text in (None, "", "   "):
            [match] = store.search(SearchField.QUESTIONS, vector=vector, text=text, k=5)
            assert match.keyword_score == 0.0 and match.vector_score > 0.0
        assert store.search(SearchField.QUESTIONS, vector=None, text=None, k=5) == []

    def test_double_byte_items_round_trip_and_are_found_by_vector(
            self, store, put, embeddings) -> None:
        question = "今日の天気を教えてください."
        put(qna("DoubleByteCharacters.001", question, answer="今日は晴れです。", t="天気"),
            qna("Ascii.1", "What is the weather today?"),
            passage("Text.ja", "東京は日本の首都です。"))

        assert store.get("DoubleByteCharacters.001").answer == "今日は晴れです。"
        vector = embeddings.embed([question])[0]
        matches = store.search(SearchField.QUESTIONS, vector=vector, text=question, k=5)
        assert (matches[0].qid, matches[0].matched_text, matches[0].topic) == (
            "DoubleByteCharacters.001", question, "天気")
        for field in SearchField:
            store.search(field, vector=None, text="今日 天気 東京 首都", k=5)

    def test_qnabot_sample_packages_store_and_match(self, store, sample_items,
                                                    make_stored_items, index,
                                                    embeddings) -> None:
        assert store.put(make_stored_items(sample_items), replace_all=True, index=index) == 22

        assert store.count() == 22
        assert [i.qid for i in store.iter_items()] == sorted(i.qid for i in sample_items)
        alexa = next(item for item in sample_items if item.qid == "Alexa.001")
        assert store.get("Alexa.001").to_json() == alexa.to_json()
        vector = embeddings.embed([alexa.questions[0]])[0]
        assert store.search(SearchField.QUESTIONS, vector=vector, text=alexa.questions[0],
                            k=5)[0].qid == "Alexa.001"
        humpty = store.search(SearchField.PASSAGES, vector=None, text="Where did Humpty sit?",
                              k=5)
        assert qids(humpty)[0] == "0.HumptyDumpty"
        question_hits = store.search(SearchField.QUESTIONS, vector=None, text="Humpty Dumpty",
                                     k=5)
        assert "0.HumptyDumpty" not in qids(question_hits)

    def test_qnabot_import_test_package_round_trips_with_double_byte_text(
            self, store, make_stored_items, index, embeddings) -> None:
        items = load_package("import-pass-expected.json")

        store.put(make_stored_items(items), index=index)

        assert [store.get(i.qid).to_json() for i in items] == [i.to_json() for i in items]
        japanese = store.get("DoubleByteCharacters.001")
        vector = embeddings.embed([japanese.questions[0]])[0]
        best = store.search(SearchField.QUESTIONS, vector=vector, text=japanese.questions[0],
                            k=3)[0]
        assert (best.qid, best.matched_text) == (japanese.qid, japanese.questions[0])
