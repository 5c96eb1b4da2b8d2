"""The per-knowledge-base classifier: training, scoring, persistence, background retraining."""

import time

import numpy as np
import pytest

from knowledge import classifier as C
from knowledge.classifier import (
    ClassifierService,
    FileClassifierRepo,
    ItemClassifier,
    MemoryClassifierRepo,
    TrainingSet,
    train,
)
from knowledge.embeddings.hashing import HashingEmbeddings
from knowledge.items import parse_item
from knowledge.knowledge_base import KnowledgeBase
from knowledge.stores.sqlite_store import SqliteStore

EMBED = HashingEmbeddings(dimension=128)


def examples(spec):
    """A training set from {qid: [questions]} embedded with the hashing test model."""
    return TrainingSet.of([(qid, EMBED.embed(questions), None) for qid, questions in spec.items()])


NEAR_MISS = {
    "Stops.Next": ["announce the next stop", "which stop is next", "tell me the next stop"],
    "Stops.Previous": ["announce the previous stop", "which stop was previous", "tell me the previous stop"],
    "Fares.Cash": ["can I pay cash", "do you take cash on the bus", "pay with cash"],
}


def top(model, question):
    vector = EMBED.embed([question])[0]
    logits = model.logits(vector, model.qids, [0.0] * len(model.qids))
    return model.qids[int(np.argmax(logits))]


@pytest.mark.parametrize("dense_items", [C.DENSE_ITEMS, 1])  # every item, or nearest items only
def test_training_tells_near_miss_items_apart_by_their_own_questions(monkeypatch, dense_items):
    monkeypatch.setattr(C, "DENSE_ITEMS", dense_items)
    model = train(examples(NEAR_MISS), model_id="hashing")
    assert top(model, "which is the next stop") == "Stops.Next"
    assert top(model, "what was the previous stop") == "Stops.Previous"
    assert top(model, "cash on the bus") == "Fares.Cash"


def test_a_saved_model_loads_with_the_same_scores(tmp_path):
    model = train(examples(NEAR_MISS), model_id="hashing")
    repo = FileClassifierRepo(tmp_path / "classifier.npz")
    repo.save(model)
    loaded = repo.load()
    vector = EMBED.embed(["next stop please"])[0]
    assert loaded.qids == model.qids and loaded.model_id == "hashing"
    assert np.allclose(loaded.logits(vector, model.qids, [0, 0, 0]),
                       model.logits(vector, model.qids, [0, 0, 0]), atol=0.05)


def test_an_unreadable_model_file_means_no_model(tmp_path):
    (tmp_path / "classifier.npz").write_bytes(b"not a model")
    assert FileClassifierRepo(tmp_path / "classifier.npz").load() is None


def test_a_model_of_another_embeddings_model_is_not_used():
    repo = MemoryClassifierRepo()
    repo.save(ItemClassifier("other-model", ("A",), np.ones((1, 4), dtype=np.float32)))
    service = ClassifierService(repo, lambda: None, lambda: "hashing")
    assert service.current() is None


def test_imports_and_edits_retrain_the_classifier_and_it_persists(tmp_path):
    kb = KnowledgeBase(SqliteStore(tmp_path / "k.sqlite"), EMBED, FileClassifierRepo(tmp_path / "c.npz"))
    kb.put_items([parse_item({"qid": q, "q": qs, "a": f"Answer {q}"}) for q, qs in NEAR_MISS.items()])
    assert set(kb.classifier.current().qids) == set(NEAR_MISS)
    kb.put_items([parse_item({"qid": "Lost.Found", "q": ["where is lost and found"], "a": "Central."})])
    assert "Lost.Found" in kb.classifier.current().qids
    reopened = KnowledgeBase(SqliteStore(tmp_path / "k.sqlite"), EMBED, FileClassifierRepo(tmp_path / "c.npz"))
    assert "Lost.Found" in reopened.classifier.current().qids


def test_background_retraining_serves_the_previous_model_until_the_new_one_is_saved():
    calls = []

    def examples_now():
        calls.append(1)
        return examples(NEAR_MISS)

    service = ClassifierService(MemoryClassifierRepo(), examples_now, lambda: "hashing")
    assert service.current() is None  # a turn before any training: cosine only
    service.retrain_soon()
    service.wait()
    assert service.current() is not None and calls
    assert service.last_error == ""


def test_a_failed_training_keeps_the_old_model_and_says_why():
    def broken():
        raise RuntimeError("embeddings down")

    service = ClassifierService(MemoryClassifierRepo(), broken, lambda: "hashing")
    service.run_once()
    assert service.current() is None and "embeddings down" in service.last_error


def confidence(model, question, none_similarity=0.6):
    """The top item's share of a softmax over the model's items and "none of these"."""
    vector = EMBED.embed([question])[0]
    logits = model.logits(vector, list(NEAR_MISS), [0.0] * len(NEAR_MISS))
    shares = C.softmax(np.r_[logits, model.scale * none_similarity])
    return float(shares[:-1].max())



@pytest.mark.parametrize("dense_items", [C.DENSE_ITEMS, 1])
def test_a_question_is_as_confident_however_many_batches_the_examples_fill(monkeypatch,
                                                                            dense_items):
    # A big knowledge base fills many training batches; its items' confidences must not grow
    # with that (they did: one Adam step per batch made the weights, and so the confidences
    # of the same turns, grow with the knowledge base, bench/calibration_bench.py).
    monkeypatch.setattr(C, "DENSE_ITEMS", dense_items)
    one_batch = train(examples(NEAR_MISS), model_id="hashing")
    many_batches = train(examples(NEAR_MISS), model_id="hashing", batch=2)
    for question in ("which is the next stop", "what was the previous stop", "cash on the bus"):
        assert confidence(many_batches, question) == pytest.approx(
            confidence(one_batch, question), abs=0.01)


def test_closing_a_big_knowledge_base_mid_training_still_saves_its_model(tmp_path, monkeypatch):
    # Above INLINE_TRAINING_ITEMS an import returns while a thread trains; a process that
    # closes the knowledge base then (a CLI command, a bench child) must not lose the model.
    reading = KnowledgeBase.training_set

    def slow_read(self):
        time.sleep(0.3)  # the thread is still reading the stored vectors when close() comes
        return reading(self)

    monkeypatch.setattr(KnowledgeBase, "training_set", slow_read)
    kb = KnowledgeBase(SqliteStore(tmp_path / "k.sqlite"), EMBED,
                       FileClassifierRepo(tmp_path / "c.npz"))
    kb.put_items([parse_item({"qid": f"Item.{n}", "q": [f"question number {n}"],
                              "a": f"Answer {n}"}) for n in range(120)])
    kb.close()
    reopened = KnowledgeBase(SqliteStore(tmp_path / "k.sqlite"), EMBED,
                             FileClassifierRepo(tmp_path / "c.npz"))
    assert reopened.classifier.current() is not None
    assert len(reopened.classifier.current().qids) == 120
