"""The Lambda packager's pure parts (the full build runs pip: `make package`)."""

from __future__ import annotations

import hashlib

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
