"""The benchmark script runs and prints its table (the figures live in benchmarks/README.md),
with its own nets and data: a project without the examples can run it."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO


def test_benchmark_runs_and_prints_every_row(tmp_path):
    # the examples' package made unimportable: the script must not need it
    blocked = tmp_path / "my_project"
    blocked.mkdir()
    (blocked / "__init__.py").write_text("raise ImportError('the examples are not there')\n")
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    result = subprocess.run(
        [sys.executable, "scripts/benchmark.py", "--tiny"],
        cwd=REPO,
        env=env,
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
        "tiny MLP: trainkit step + progress bar",
        "tiny MLP: trainkit step, fast_callback_hooks=true",
        "batches: TensorBatchLoader",
        "SimpleCNN 1x8x8: trainkit step",
        "`python scripts/train.py --help`",
    ):
        assert row in names, result.stdout
    # the dashboard's figure cost needs the cnn example, which is not importable here
    assert "(no figure row: the cnn example does not load here" in result.stdout
    ratios = [line.split("|")[3].strip() for line in table[1:] if " x " in line]
    assert ratios and all(float(r.split(" x ")[0]) > 0 for r in ratios)
