"""The benchmark script runs and prints its table (the figures live in benchmarks/README.md)."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_benchmark_runs_and_prints_every_row():
    result = subprocess.run(
        [sys.executable, "scripts/benchmark.py", "--tiny"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    names = [line.split("|")[1].strip() for line in table]
    for row in (
        "tiny MLP: Lightning barebones",
        "tiny MLP: trainkit step",
        "tiny MLP: trainkit step, every hook called",
        "batches: TensorBatchLoader",
        "SimpleCNN 1x8x8: trainkit step",
        "`python scripts/train.py --help`",
    ):
        assert row in names, result.stdout
    ratios = [line.split("|")[3].strip() for line in table[1:] if " x " in line]
    assert ratios and all(float(r.split(" x ")[0]) > 0 for r in ratios)
