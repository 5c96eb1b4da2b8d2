"""``make bench`` keeps working: a ``--quick`` run with the hashing test embeddings.

Checks that every figure is produced, never what it is: benchmarks report, they do not fail
on timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_quick_run_writes_every_table_and_the_latency_chart(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("LLM_API", "QNABOT_HOME")}
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--embeddings", "hashing",
         "--out", str(tmp_path), "--cache", str(tmp_path / "cache.sqlite")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = (tmp_path / "results.md").read_text("utf-8")
    for heading in ("Turn latency by knowledge-base size", "Cold start", "Import throughput",
                    "Accuracy (default settings)", "Classifier training",
                    "Calibration across knowledge-base sizes (default settings)"):
        assert f"## {heading}" in report
    assert "| 700 |" in report and "| 1,500 |" in report  # one latency row per size
    for run in ("| cold |", "| warm |"):
        assert run in report
    for split in ("dev", "held-out", "second"):
        for mode in ("hybrid", "cosine", "embeddings", "keywords", "handler"):
            assert f"| {split} | {mode} |" in report
    assert "| 300 |" in report  # the classifier trained on a synthetic knowledge base
    assert (tmp_path / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report in done.stdout  # the table is printed too
