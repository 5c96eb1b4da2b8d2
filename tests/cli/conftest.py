"""Run ``qnabot`` in-process against a fresh home folder with fast test embeddings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.main import main
from tests.shared_fixtures import FIXTURES, MISSING_REASON, fixtures_present


@dataclass(frozen=True)
class Run:
    """What one ``qnabot`` command returned and printed."""

    code: int
    out: str
    err: str


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty ``QNABOT_HOME`` with the deterministic HASHING embeddings."""
    folder = tmp_path / "home"
    monkeypatch.setenv("QNABOT_HOME", str(folder))
    monkeypatch.setenv("EMBEDDINGS_API", "HASHING")
    for name in ("EMBEDDINGS_DIMENSIONS", "QNABOT_STORE", "SETTINGS_TABLE"):
        monkeypatch.delenv(name, raising=False)
    return folder


@pytest.fixture
def qnabot(home, capsys):
    """``qnabot("import", "faq.json")`` runs the command and returns a :class:`Run`."""

    def run(*argv: str) -> Run:
        if not fixtures_present() and any(str(FIXTURES) in str(arg) for arg in argv):
            pytest.skip(MISSING_REASON)
        capsys.readouterr()
        code = main([str(arg) for arg in argv])
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run
