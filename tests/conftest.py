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
