"""The store contract against a real OpenSearch cluster, when ``OPENSEARCH_URL`` is set.

Run it against a local cluster (security plugin off) with::

    OPENSEARCH_URL=http://localhost:9200 .venv/bin/python -m pytest tests/aws/test_opensearch_contract.py

or against Amazon OpenSearch Service with ``OPENSEARCH_AUTH=sigv4-es`` and AWS credentials.
Each test uses its own alias (``qnabot-contract-<random>``) and deletes its indexes afterwards.
"""

from __future__ import annotations

import os
import uuid

import pytest

from knowledge.stores.opensearch_store import OpenSearchStore
from tests.aws.opensearch_emulator import emulated_client
from tests.knowledge.conftest import (  # noqa: F401 - fixtures the contract uses
    embeddings,
    index,
    make_stored_items,
    sample_items,
)
from tests.knowledge.store_contract import StoreContract

needs_server = pytest.mark.skipif(not os.environ.get("OPENSEARCH_URL"),
                                  reason="set OPENSEARCH_URL to run the contract on OpenSearch")


@needs_server
class TestOpenSearchStoreContract(StoreContract):
    @pytest.fixture
    def store(self):
        alias = f"qnabot-contract-{uuid.uuid4().hex[:12]}"
        store = OpenSearchStore.from_environment({**os.environ, "OPENSEARCH_INDEX": alias})
        yield store
        for name in store._physical_indexes():
            store.client.indices.delete(index=name, ignore_unavailable=True)


class TestOpenSearchStoreContractOnEmulator(StoreContract):
    """The same contract through the real opensearch-py client against the in-memory
    emulator: it checks the store's own logic here, where no cluster runs."""

    @pytest.fixture
    def store(self):
        client, _ = emulated_client()
        return OpenSearchStore(client, "qnabot", sleep=lambda seconds: None)


class TestOpenSearchStoreContractOnServerlessDouble(StoreContract):
    """The contract through a double that answers like an OpenSearch Serverless vector
    collection: custom document ids, ``_mget`` and ``refresh`` are refused, as the service
    refuses them. The store, built as ``from_environment`` builds it for an ``aoss`` endpoint,
    must never send them."""

    @pytest.fixture
    def store(self):
        client, emulator = emulated_client(serverless=True)
        store = OpenSearchStore(client, "qnabot", engine="faiss", refresh=False,
                                custom_ids=False, sleep=lambda seconds: None)
        yield store
        assert emulator.refused == []
