"""Fixtures shared by every test package."""

import pytest

from knowledge.backends import open_knowledge_base


@pytest.fixture
def hashing_kb(tmp_path, monkeypatch):
    """A knowledge base in a fresh home folder, with the fast deterministic test embeddings."""
    monkeypatch.setenv("EMBEDDINGS_API", "HASHING")
    monkeypatch.delenv("EMBEDDINGS_DIMENSIONS", raising=False)
    monkeypatch.delenv("QNABOT_STORE", raising=False)
    knowledge_base = open_knowledge_base(tmp_path / "home")
    yield knowledge_base
    knowledge_base.store.close()


@pytest.fixture(autouse=True)
def no_metrics_by_default(monkeypatch):
    """Turns keep no metrics records unless a test asks for them (QNABOT_METRICS=sqlite)."""
    from fulfillment import metrics

    monkeypatch.setenv("QNABOT_METRICS", "none")
    metrics.set_metrics_sink(None)
    yield
    metrics.set_metrics_sink(None)
