"""The composition root: build the adapters that the environment asks for.

Entry points (CLI, Lambda handlers, the local server) call these functions instead of
constructing adapters themselves, so the same code runs on a laptop and in AWS.

Environment variables:

=============================  =============================================================
``QNABOT_HOME``                folder of the embedded data (default ``./.qnabot``)
``QNABOT_STORE``               ``embedded`` (default) or ``opensearch``
``OPENSEARCH_URL``             OpenSearch endpoint (with ``QNABOT_STORE=opensearch``)
``EMBEDDINGS_API``             ``LOCAL`` (default), ``BEDROCK``, ``LAMBDA`` or ``HASHING`` (tests)
``EMBEDDINGS_BEDROCK_MODEL_ID`` Bedrock model (default ``amazon.titan-embed-text-v2:0``)
``EMBEDDINGS_DIMENSIONS``      vector length for Bedrock Titan v2 (256, 512, 1024) or LAMBDA
``EMBEDDINGS_LAMBDA_ARN``      the user's embeddings Lambda (with ``EMBEDDINGS_API=LAMBDA``)
``SETTINGS_TABLE``             DynamoDB table for settings (else ``settings.json`` in the home)
``CLASSIFIER_BUCKET``          S3 bucket of the classifier (else a file in the home)
``CLASSIFIER_KEY``             its key (default ``classifier/<OPENSEARCH_INDEX>.npz``)
=============================  =============================================================

Example:
    >>> kb = open_knowledge_base()  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

from knowledge.classifier import ClassifierRepo
from knowledge.embeddings.base import Embeddings
from knowledge.home import qnabot_home
from knowledge.knowledge_base import KnowledgeBase
from knowledge.settings import Settings, SettingsRepo
from knowledge.store import Store


class ConfigurationError(RuntimeError):
    """The environment names a backend that cannot be built; the message says what to set."""


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def open_embeddings() -> Embeddings:
    """The embeddings model selected by ``EMBEDDINGS_API``, without the cache."""
    api = _env("EMBEDDINGS_API", "LOCAL").upper()
    if api == "LOCAL":
        return _local_embeddings(_env("QNABOT_MODEL_DIR"))
    if api == "HASHING":
        from knowledge.embeddings.hashing import HashingEmbeddings

        return HashingEmbeddings(dimension=int(_env("EMBEDDINGS_DIMENSIONS", "64")))
    if api == "BEDROCK":
        from knowledge.embeddings.bedrock import BedrockEmbeddings

        return BedrockEmbeddings(
            model_id=_env("EMBEDDINGS_BEDROCK_MODEL_ID", "amazon.titan-embed-text-v2:0"),
            dimensions=int(_env("EMBEDDINGS_DIMENSIONS", "1024")),
        )
    if api == "LAMBDA":
        from knowledge.embeddings.lambda_plugin import LambdaEmbeddings

        arn = _env("EMBEDDINGS_LAMBDA_ARN")
        if not arn or not _env("EMBEDDINGS_DIMENSIONS"):
            raise ConfigurationError(
                "EMBEDDINGS_API=LAMBDA needs EMBEDDINGS_LAMBDA_ARN and EMBEDDINGS_DIMENSIONS")
        return LambdaEmbeddings(arn, dimension=int(_env("EMBEDDINGS_DIMENSIONS")))
    raise ConfigurationError(
        f'EMBEDDINGS_API="{api}" is not one of LOCAL, BEDROCK, LAMBDA, HASHING')


@cache
def _local_embeddings(model_dir: str) -> Embeddings:
    """One local model per process and model folder (it is thread-safe, and ~90 MB): the
    designer and the fulfillment handler in ``qnabot serve`` share it."""
    from knowledge.embeddings.local import LocalEmbeddings

    return LocalEmbeddings()


def open_store(home: Path | None = None) -> Store:
    """The store selected by ``QNABOT_STORE``."""
    kind = _env("QNABOT_STORE", "embedded").lower()
    if kind == "embedded":
        from knowledge.stores.sqlite_store import SqliteStore

        return SqliteStore((home or qnabot_home()) / "knowledge.sqlite")
    if kind == "opensearch":
        from knowledge.stores.opensearch_store import OpenSearchStore

        return OpenSearchStore.from_environment()
    raise ConfigurationError(f'QNABOT_STORE="{kind}" is not one of embedded, opensearch')


def open_settings_repo(home: Path | None = None) -> SettingsRepo:
    """Where setting overrides live: ``SETTINGS_TABLE`` in DynamoDB, else a file in the home."""
    table = _env("SETTINGS_TABLE")
    if table:
        from knowledge.settings_dynamodb import DynamoDbSettingsRepo

        return DynamoDbSettingsRepo(table)
    from knowledge.settings_file import FileSettingsRepo

    return FileSettingsRepo((home or qnabot_home()) / "settings.json")


def load_settings(repo: SettingsRepo) -> Settings:
    """A snapshot of the current settings from ``repo``."""
    return Settings.from_overrides(repo.overrides())


def open_knowledge_base(home: Path | None = None, *,
                        retrain_large: Callable[[], None] | None = None) -> KnowledgeBase:
    """The knowledge base over the configured store and embeddings, with the embedding cache.

    The cache lives in the home folder (``/tmp`` in Lambda), keyed by the model id, so
    identical text is never embedded twice. ``retrain_large``: see :class:`KnowledgeBase`.
    """
    from knowledge.embeddings.cache import CachedEmbeddings, SqliteEmbeddingCache

    home = home or qnabot_home()
    cache = SqliteEmbeddingCache(home / "embeddings.sqlite")
    embeddings = CachedEmbeddings(open_embeddings(), cache)
    return KnowledgeBase(open_store(home), embeddings, open_classifier_repo(home),
                         retrain_large=retrain_large)


def open_classifier_repo(home: Path | None = None) -> ClassifierRepo:
    """Where the knowledge base's classifier is kept: an S3 object when ``CLASSIFIER_BUCKET``
    is set (AWS: every function reads the model the import/export function trained), else a
    file next to the embedded store (it records its embeddings model), else (OpenSearch
    without a bucket) in memory: each process trains its own after its own writes."""
    from knowledge.classifier import FileClassifierRepo, MemoryClassifierRepo

    bucket = _env("CLASSIFIER_BUCKET")
    if bucket:
        from knowledge.classifier_s3 import S3ClassifierRepo

        index = _env("OPENSEARCH_INDEX") or "qnabot"
        return S3ClassifierRepo(bucket, _env("CLASSIFIER_KEY") or f"classifier/{index}.npz")
    if _env("QNABOT_STORE", "embedded").lower() != "embedded":
        return MemoryClassifierRepo()
    return FileClassifierRepo((home or qnabot_home()) / "classifier.npz")
