"""The embedding cache: identical text is never embedded twice, per model and input type."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from knowledge.embeddings.base import InputType
from knowledge.embeddings.cache import (
    LOOKUP_CHUNK,
    CachedEmbeddings,
    CacheStats,
    SqliteEmbeddingCache,
)
from knowledge.embeddings.hashing import HashingEmbeddings


class NamedModel(HashingEmbeddings):
    """A hashing model under another model id (same vectors, so only the id differs)."""

    def __init__(self, model_id: str, dimension: int = 16):
        super().__init__(dimension)
        self._model_id = model_id

    @property
    def model_id(self) -> str:
        return self._model_id


def embedded_texts(model: HashingEmbeddings) -> int:
    """How many texts ``model`` has been asked to embed so far."""
    return sum(count for count, _ in model.calls)


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "embeddings.sqlite"


def cached(model: HashingEmbeddings, path: Path) -> CachedEmbeddings:
    return CachedEmbeddings(model, SqliteEmbeddingCache(path))


def test_second_call_with_the_same_texts_embeds_nothing(cache_path: Path) -> None:
    model = HashingEmbeddings(16)
    embeddings = cached(model, cache_path)
    first = embeddings.embed(["reset my password", "opening hours"])
    second = embeddings.embed(["opening hours", "reset my password"])
    assert model.calls == [(2, "q")]
    np.testing.assert_array_equal(second, first[::-1])


def test_vectors_are_the_inner_models_vectors_in_input_order(cache_path: Path) -> None:
    texts = ["b text", "a text", "c text", "a text"]
    embeddings = cached(HashingEmbeddings(16), cache_path)
    embeddings.embed(texts[:2])  # warm part of the cache so hits and misses interleave
    np.testing.assert_array_equal(embeddings.embed(texts), HashingEmbeddings(16).embed(texts))


def test_each_distinct_text_is_embedded_once_per_call(cache_path: Path) -> None:
    model = HashingEmbeddings(16)
    embeddings = cached(model, cache_path)
    vectors = embeddings.embed(["hello", "bye", "hello", "hello"])
    assert model.calls == [(2, "q")]
    np.testing.assert_array_equal(vectors[0], vectors[2])
    np.testing.assert_array_equal(vectors[0], vectors[3])
    assert embeddings.stats == CacheStats(hits=2, misses=2)


def test_many_repeats_of_few_distinct_texts_embed_only_the_distinct_ones(
        cache_path: Path) -> None:
    model = HashingEmbeddings(16)
    embeddings = cached(model, cache_path)
    texts = [f"question number {i % 300}" for i in range(70_000)]
    vectors = embeddings.embed(texts)
    assert vectors.shape == (70_000, 16)
    assert embedded_texts(model) == 300
    assert embeddings.stats == CacheStats(hits=69_700, misses=300)


def test_another_model_id_does_not_see_the_first_models_vectors(cache_path: Path) -> None:
    first, second = NamedModel("test/model-a"), NamedModel("test/model-b")
    cached(first, cache_path).embed(["hello"])
    cached(second, cache_path).embed(["hello"])
    assert embedded_texts(second) == 1


def test_questions_and_answers_are_cached_separately(cache_path: Path) -> None:
    model = HashingEmbeddings(16)
    embeddings = cached(model, cache_path)
    embeddings.embed(["hello"], "q")
    embeddings.embed(["hello"], "a")
    embeddings.embed(["hello"], "a")
    assert model.calls == [(1, "q"), (1, "a")]


def test_vectors_persist_across_cache_instances(cache_path: Path) -> None:
    cached(HashingEmbeddings(16), cache_path).embed(["hello", "world"])
    model = HashingEmbeddings(16)
    vectors = cached(model, cache_path).embed(["world", "hello"])
    assert model.calls == []
    np.testing.assert_array_equal(vectors, HashingEmbeddings(16).embed(["world", "hello"]))


def test_an_entry_of_the_wrong_length_is_embedded_again(cache_path: Path) -> None:
    model = HashingEmbeddings(16)
    SqliteEmbeddingCache(cache_path).put_many(model.model_id, "q", {"hello": np.ones(4)})
    vectors = cached(model, cache_path).embed(["hello"])
    assert model.calls == [(1, "q")]
    assert vectors.shape == (1, 16)


def test_lookups_of_more_texts_than_one_sql_chunk_find_them_all(cache_path: Path) -> None:
    cache = SqliteEmbeddingCache(cache_path)
    texts = [f"text {i}" for i in range(LOOKUP_CHUNK * 2 + 7)]
    cache.put_many("m", "q", {text: np.full(3, i, dtype=np.float32)
                              for i, text in enumerate(texts)})
    found = cache.get_many("m", "q", texts)
    assert len(found) == len(texts)
    assert found[texts[-1]].tolist() == [float(len(texts) - 1)] * 3


def test_a_corrupt_cache_file_is_moved_aside_and_recreated(
        cache_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache_path.write_bytes(b"this is not a SQLite database" * 100)
    model = HashingEmbeddings(16)
    with caplog.at_level(logging.WARNING, logger="knowledge.embeddings.cache"):
        vectors = cached(model, cache_path).embed(["hello"])
    assert vectors.shape == (1, 16)
    assert "unreadable" in caplog.text
    assert list(cache_path.parent.glob("embeddings.sqlite.corrupt-*"))
    # The new file works: a fresh instance finds the vector.
    cached(model, cache_path).embed(["hello"])
    assert model.calls == [(1, "q")]


def test_threads_sharing_one_cache_get_correct_vectors(cache_path: Path) -> None:
    embeddings = cached(HashingEmbeddings(16), cache_path)
    batches = [[f"text {(i * 7 + j) % 50}" for j in range(20)] for i in range(16)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(embeddings.embed, batches))
    reference = HashingEmbeddings(16)
    for batch, vectors in zip(batches, results, strict=True):
        np.testing.assert_array_equal(vectors, reference.embed(batch))


_WRITER = """
import sys
import numpy as np
from knowledge.embeddings.cache import SqliteEmbeddingCache
cache = SqliteEmbeddingCache(sys.argv[1])
for start in range(0, 200, 20):
    cache.put_many("m", "q", {f"{sys.argv[2]} {i}": np.ones(4) for i in range(start, start + 20)})
"""


def test_two_processes_can_write_to_one_cache(cache_path: Path) -> None:
    SqliteEmbeddingCache(cache_path).put_many("m", "q", {"seed": np.ones(4)})
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(cache_path), name],
                                cwd=Path(__file__).resolve().parents[3])
               for name in ("first", "second")]
    assert [writer.wait() for writer in writers] == [0, 0]
    assert len(SqliteEmbeddingCache(cache_path)) == 401


def test_stats_count_hits_and_misses_until_reset(cache_path: Path) -> None:
    embeddings = cached(HashingEmbeddings(16), cache_path)
    embeddings.embed(["a", "b"])
    embeddings.embed(["a", "b", "c"])
    assert embeddings.stats == CacheStats(hits=2, misses=3)
    embeddings.reset_stats()
    assert embeddings.stats == CacheStats()


def test_cached_model_reports_the_inner_models_id_and_dimension(cache_path: Path) -> None:
    embeddings = cached(NamedModel("test/named", 24), cache_path)
    assert (embeddings.model_id, embeddings.dimension) == ("test/named", 24)


def test_empty_input_gives_an_empty_matrix_without_calling_the_model(cache_path: Path) -> None:
    model = HashingEmbeddings(16)
    assert cached(model, cache_path).embed([]).shape == (0, 16)
    assert model.calls == []


class FailingModel(HashingEmbeddings):
    """Fails on a given call, like a provider that goes down mid-import."""

    def __init__(self, fail_on_call: int):
        super().__init__(16)
        self.fail_on_call = fail_on_call

    def embed(self, texts: Sequence[str], input_type: InputType = "q") -> np.ndarray:
        if len(self.calls) + 1 == self.fail_on_call:
            self.calls.append((len(texts), input_type))
            raise RuntimeError("provider down")
        return super().embed(texts, input_type)


def test_vectors_embedded_before_a_failure_are_kept(cache_path: Path) -> None:
    from knowledge.embeddings import cache as cache_module

    texts = [f"text {i}" for i in range(cache_module.EMBED_CHUNK + 10)]
    with pytest.raises(RuntimeError):
        cached(FailingModel(fail_on_call=2), cache_path).embed(texts)
    model = HashingEmbeddings(16)
    cached(model, cache_path).embed(texts)
    assert embedded_texts(model) == 10


def test_an_unusable_cache_location_still_gives_vectors_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    model = HashingEmbeddings(16)
    with caplog.at_level(logging.WARNING, logger="knowledge.embeddings.cache"):
        vectors = cached(model, blocker / "embeddings.sqlite").embed(["hello", "world"])
    np.testing.assert_array_equal(vectors, HashingEmbeddings(16).embed(["hello", "world"]))
    assert "could not read vectors" in caplog.text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_opens_its_own_connection(cache_path: Path) -> None:
    cache = SqliteEmbeddingCache(cache_path)
    cache.put_many("m", "q", {"parent": np.ones(4)})
    pid = os.fork()
    if pid == 0:  # the child: write through the inherited cache object, then exit at once
        ok = False
        try:
            inherited = cache._connection
            cache.put_many("m", "q", {"child": np.ones(4)})
            ok = (cache._connection is not inherited and
                  set(cache.get_many("m", "q", ["parent", "child"])) == {"parent", "child"})
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert set(cache.get_many("m", "q", ["parent", "child"])) == {"parent", "child"}
