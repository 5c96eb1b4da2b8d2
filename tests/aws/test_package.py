"""The Lambda packager's pure parts (the full build runs pip: `make package`)."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from infra import package


def test_requirements_are_pinned_from_the_lock_file(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("aws_lambda_powertools==3.37.0\nnumpy==2.4.6\n# comment\n")
    assert package.pins(("aws-lambda-powertools", "numpy"), lock) == [
        "aws-lambda-powertools==3.37.0", "numpy==2.4.6"]
    with pytest.raises(SystemExit, match="not in requirements.lock: nh3"):
        package.pins(("nh3",), lock)


def test_every_artifact_requirement_is_in_the_projects_lock():
    for artifact in package.ARTIFACTS:
        assert len(package.pins(artifact.requirements)) == len(artifact.requirements)


def test_zips_are_reproducible(tmp_path):
    folder = tmp_path / "pkg"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "m.py").write_text("X = 1\n")
    (folder / "b.py").write_text("Y = 2\n")
    digests = []
    for n in range(2):
        package.write_zip(folder, tmp_path / f"{n}.zip")
        digests.append(hashlib.sha256((tmp_path / f"{n}.zip").read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_sources_are_copied_without_tests_or_caches(tmp_path, monkeypatch):
    root = tmp_path / "root"
    for path in ("pkg/mod.py", "pkg/tests/test_x.py", "pkg/__pycache__/mod.cpython-311.pyc",
                 "infra/setup.py"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("")
    monkeypatch.setattr(package, "ROOT", root)
    package.copy_sources(("pkg", "infra/setup.py"), tmp_path / "out")
    copied = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*")
                    if p.is_file())
    assert copied == ["infra/setup.py", "pkg/mod.py"]


def test_the_runtime_and_the_unused_grpc_stack_are_left_out():
    assert {"boto3", "botocore"} <= set(package.EXCLUDED_DISTRIBUTIONS)
    assert {"grpc", "google"} <= set(package.EXCLUDED_DISTRIBUTIONS)


def test_lambda_wheels_are_chosen_by_pip_for_python_3_12_whatever_runs_the_build(tmp_path):
    command = package.pip_command(["numpy==2.4.6"], tmp_path, arch="x86_64")
    assert command[0] == sys.executable
    assert "--only-binary=:all:" in command
    assert command[command.index("--python-version") + 1] == "3.12"
    platforms = [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]
    assert "manylinux2014_x86_64" in platforms and all("x86_64" in p for p in platforms)
    arm = package.pip_command(["numpy==2.4.6"], tmp_path, arch="arm64")
    assert all("aarch64" in arm[i + 1] for i, arg in enumerate(arm) if arg == "--platform")


def test_a_broken_python_3_12_shim_is_not_used_for_bytecode(tmp_path, monkeypatch):
    shim = tmp_path / "python3.12"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ.get('PATH', '')}")
    monkeypatch.setenv("QNABOT_LAMBDA_PYTHON", str(shim))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    found = package.lambda_python()
    assert found != str(shim)
    assert found is None or found == sys.executable  # only when this Python is 3.12 itself


def test_installed_dependencies_are_reused_from_the_cache(tmp_path, monkeypatch):
    calls = []

    def fake_pip(command, check):
        calls.append(command)
        target = Path(command[command.index("--target") + 1])
        (target / "dep").mkdir(parents=True)
        (target / "dep" / "__init__.py").write_text("")

    monkeypatch.setattr(package.subprocess, "run", fake_pip)
    for n in range(2):
        package.install(["dep==1"], tmp_path / f"t{n}", arch="x86_64", cache=tmp_path / "c")
        assert (tmp_path / f"t{n}" / "dep" / "__init__.py").is_file()
    assert len(calls) == 1
