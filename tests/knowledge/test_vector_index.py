"""The embedded store's vector index (big fields): the whole store contract through the index,
the same answers as exact search, and an index that is always consistent with the rows after
stale files, deletions, unreadable files and crashes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.stores.sqlite_store import SqliteStore
from tests.knowledge.store_contract import StoreContract


class TestIndexedStoreContract(StoreContract):
    """Every field searched through its vector index, however small."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqliteStore]:
        with SqliteStore(tmp_path / "knowledge.sqlite", index_min_rows=1) as store:
            yield store
