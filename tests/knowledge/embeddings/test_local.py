"""The local all-MiniLM-L6-v2 model on onnxruntime, using the real export.

The export is made by ``make install`` (``python -m knowledge.embeddings.export_onnx``); these
tests are skipped, saying so, only when it is missing.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from knowledge.embeddings.base import EmbeddingsError
from knowledge.embeddings.local import (
    DIMENSION,
    MODEL_ID,
    LocalEmbeddings,
    default_model_dir,
    missing_export_files,
)

ROOT = Path(__file__).resolve().parents[3]
EXPORT_MISSING = missing_export_files(default_model_dir())

_needs_export = pytest.mark.skipif(
    bool(EXPORT_MISSING),
    reason=f"no ONNX export in {default_model_dir()} (missing {', '.join(EXPORT_MISSING)}): "
           "run `make install` or `.venv/bin/python -m knowledge.embeddings.export_onnx`")


def needs_export(test):
    """Marks a test that loads the real model: slow, and skipped without the export."""
    return pytest.mark.slow(_needs_export(test))


@pytest.fixture(scope="module")
def model() -> LocalEmbeddings:
    return LocalEmbeddings()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def mixed_length_texts() -> list[str]:
    """Texts from a word to a paragraph, in no particular length order."""
    sentence = "Our support team answers questions about billing, accounts and devices. "
    return ["Hi", sentence * 6, "How do I reset my password?", "", sentence,
            "What are the opening hours of the store on Sunday?", sentence * 3, "ok"]


@needs_export
def test_a_paraphrase_is_closer_than_an_unrelated_question(model: LocalEmbeddings) -> None:
    query, paraphrase, unrelated = model.embed([
        "How do I reset my password?",
        "I forgot my password, how can I change it?",
        "What time does the museum open on Sundays?",
    ])
    assert cosine(query, paraphrase) > cosine(query, unrelated) + 0.3


@needs_export
def test_vectors_have_384_dimensions_and_unit_length(model: LocalEmbeddings) -> None:
    vectors = model.embed(mixed_length_texts())
    assert vectors.shape == (len(mixed_length_texts()), DIMENSION)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@needs_export
def test_a_batch_gives_the_same_vectors_as_one_text_at_a_time(model: LocalEmbeddings) -> None:
    texts = mixed_length_texts()
    batch = model.embed(texts)
    for text, row in zip(texts, batch, strict=True):
        assert cosine(model.embed([text])[0], row) > 0.9999, text[:40]


@needs_export
def test_rows_follow_input_order_across_length_sorted_batches(model: LocalEmbeddings) -> None:
    texts = mixed_length_texts()
    small_batches = LocalEmbeddings(batch_size=3).embed(texts)
    for index, text in enumerate(texts):
        single = model.embed([text])[0]
        similarities = small_batches @ single
        if text:  # "" and "ok" could be near each other; the row itself must match best
            assert int(np.argmax(similarities)) == index, text[:40]
        assert similarities[index] > 0.9999


@needs_export
def test_a_5000_word_text_is_truncated_to_its_first_256_tokens(model: LocalEmbeddings) -> None:
    words = [f"topic{i % 97} detail" for i in range(2500)]  # 5,000 words, 3 tokens a pair
    long_vector, head_vector = model.embed([" ".join(words), " ".join(words[:100])])
    # The first 200 words are ~300 tokens: past 256 (so both texts are cut to the same
    # tokens) but not past 512 (so a longer limit would tell them apart).
    assert cosine(long_vector, head_vector) > 0.9999


@needs_export
def test_an_empty_text_gets_a_unit_vector(model: LocalEmbeddings) -> None:
    vector = model.embed([""])[0]
    assert np.isfinite(vector).all()
    assert abs(np.linalg.norm(vector) - 1.0) < 1e-5


@needs_export
@pytest.mark.parametrize("batch_size", [64, 3], ids=["one call each", "calls side by side"])
def test_concurrent_calls_from_threads_give_the_sequential_vectors(
        model: LocalEmbeddings, batch_size: int) -> None:
    texts = mixed_length_texts()
    expected = model.embed(texts)
    shared = LocalEmbeddings(batch_size=batch_size)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: shared.embed(texts), range(6)))
    for vectors in results:
        np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_no_texts_give_an_empty_matrix_without_loading_the_model(tmp_path: Path) -> None:
    assert LocalEmbeddings(tmp_path).embed([]).shape == (0, DIMENSION)


def test_a_missing_export_names_the_command_that_makes_it(tmp_path: Path) -> None:
    model = LocalEmbeddings(tmp_path / "nowhere")
    assert model.model_id == MODEL_ID
    with pytest.raises(EmbeddingsError) as error:
        model.embed(["hello"])
    message = str(error.value)
    assert "make install" in message
    assert "python -m knowledge.embeddings.export_onnx" in message
    assert str(tmp_path / "nowhere") in message


def test_an_unreadable_model_file_is_an_embeddings_error(tmp_path: Path) -> None:
    for name in ("model.onnx", "tokenizer.json", "manifest.json"):
        (tmp_path / name).write_text("{}")
    with pytest.raises(EmbeddingsError, match="--force"):
        LocalEmbeddings(tmp_path).embed(["hello"])


def test_the_export_folder_follows_qnabot_model_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QNABOT_MODEL_DIR", str(tmp_path))
    assert LocalEmbeddings().model_dir == tmp_path


_RUNTIME_IMPORTS = """
import sys
from knowledge.embeddings.local import LocalEmbeddings
loaded_on_import = "onnxruntime" in sys.modules or "tokenizers" in sys.modules
LocalEmbeddings().embed(["hello"])
heavy = sorted(name for name in ("torch", "transformers", "sentence_transformers")
               if name in sys.modules)
print(loaded_on_import, heavy)
"""


@needs_export
def test_import_is_cheap_and_embedding_never_imports_torch() -> None:
    result = subprocess.run([sys.executable, "-c", _RUNTIME_IMPORTS], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False []"


def test_long_texts_go_in_smaller_batches_so_memory_stays_bounded():
    from knowledge.embeddings.local import BATCH_TOKENS, LocalEmbeddings

    embeddings = LocalEmbeddings()  # nothing is loaded until the first embed
    lengths = [256] * 40 + [12] * 200
    batches = list(embeddings._batches(list(range(len(lengths))), lengths))
    assert sorted(row for batch in batches for row in batch) == list(range(len(lengths)))
    assert all(len(batch) * lengths[batch[0]] <= BATCH_TOKENS for batch in batches)
    assert all(len(batch) <= embeddings.batch_size for batch in batches)
    assert max(len(batch) for batch in batches) == embeddings.batch_size  # short texts still fill
