"""Fixtures for the embeddings tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def plugin_app() -> ModuleType:
    """The sample embeddings Lambda (infra/plugins/embeddings_plugin/app.py) as a module."""
    path = ROOT / "infra" / "plugins" / "embeddings_plugin" / "app.py"
    spec = importlib.util.spec_from_file_location("embeddings_plugin_app", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
