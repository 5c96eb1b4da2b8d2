"""infra/deploy.sh drives the AWS CLI; a fake `aws` on PATH records the exact commands."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKE_AWS = """#!/usr/bin/env bash
echo "$*" >> "$AWS_LOG"
case "$1 $2" in
  "sts get-caller-identity") echo 123456789012 ;;
  "s3api head-bucket") exit "${HEAD_BUCKET_STATUS:-0}" ;;
esac
"""


@pytest.fixture
def project(tmp_path):
    """A copy of infra/ with fake zips in build/, and a fake aws CLI."""
    shutil.copytree(ROOT / "infra", tmp_path / "infra")
    (tmp_path / "build").mkdir()
    for name in ("fulfillment", "admin"):
        (tmp_path / "build" / f"{name}.zip").write_bytes(b"PK")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(FAKE_AWS)
    (bin_dir / "aws").chmod(0o755)
    return tmp_path


def deploy(project, *args, head_bucket=0):
    log = project / "aws.log"
    env = {**os.environ, "PATH": f"{project / 'bin'}:{os.environ['PATH']}",
           "AWS_LOG": str(log), "HEAD_BUCKET_STATUS": str(head_bucket)}
    env.pop("ARTIFACT_BUCKET", None)
    result = subprocess.run(["bash", str(project / "infra" / "deploy.sh"), *args], env=env,
                            capture_output=True, text=True)
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


def test_a_first_deploy_creates_a_private_artifacts_bucket_then_packages_and_deploys(project):
    result, calls = deploy(project, "qna-test", "eu-west-1", "AdminEmail=me@example.com",
                           head_bucket=254)
    assert result.returncode == 0, result.stderr
    bucket = "qnabot-artifacts-123456789012-eu-west-1"
    assert calls[:2] == ["sts get-caller-identity --query Account --output text",
                         f"s3api head-bucket --bucket {bucket} --region eu-west-1"]
    assert calls[2] == (f"s3api create-bucket --bucket {bucket} --region eu-west-1 "
                        "--create-bucket-configuration LocationConstraint=eu-west-1")
    assert calls[3].startswith(f"s3api put-public-access-block --bucket {bucket}")
    assert calls[4].startswith(f"s3api put-bucket-encryption --bucket {bucket}")
    assert calls[5] == (f"cloudformation package --region eu-west-1 --template-file "
                        f"{project}/infra/template.yaml --s3-bucket {bucket} --s3-prefix qna-test "
                        f"--output-template-file {project}/build/packaged.yaml")
    assert calls[6] == (f"cloudformation deploy --region eu-west-1 --template-file "
                        f"{project}/build/packaged.yaml --stack-name qna-test --capabilities "
                        "CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset "
                        "--parameter-overrides AdminEmail=me@example.com")
    assert calls[7].startswith("cloudformation describe-stacks --region eu-west-1")


def test_an_update_reuses_the_bucket_and_keeps_unpassed_parameters(project):
    result, calls = deploy(project, "qna-test", "us-east-1")
    assert result.returncode == 0, result.stderr
    assert not any("create-bucket" in call for call in calls)
    [deploy_call] = [c for c in calls if c.startswith("cloudformation deploy")]
    assert "--parameter-overrides" not in deploy_call


def test_deploying_without_the_zips_says_to_run_make_package(project):
    (project / "build" / "admin.zip").unlink()
    result, calls = deploy(project, "qna-test", "us-east-1")
    assert result.returncode == 2 and "make package" in result.stderr and calls == []


def test_missing_arguments_print_the_usage(project):
    result, _ = deploy(project, "qna-test")
    assert result.returncode == 2 and "usage:" in result.stderr
