"""The doctor's advice is proven: each pathology a config setting can cure is trained through
scripts/train.py, the command its finding prints is run as printed, and the new run no longer
shows the pathology and beats the trivial predictor."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from conftest import QUIET, run_script
from pathologies import DIVERGING_SGD, LONG, OVERFITTING

# code (what the run shows) -> the run's overrides
CURABLE = {
    "loss_diverging": ["+experiment=tiny_binary", "model.optimizer.lr=10", "trainer.max_epochs=8"],
    "loss_not_decreasing": [
        "+experiment=tiny_binary",
        "model.optimizer.lr=1e-7",
        "trainer.max_epochs=8",
        *LONG,
    ],
    "loss_not_decreasing (clipped)": [
        "+experiment=tiny_binary",
        "model/optimizer=sgd",
        "trainer.gradient_clip_val=1e-7",
        "trainer.max_epochs=8",
    ],
    "unscaled_inputs": [
        "+experiment=tiny_binary",
        "data.standardize=false",
        "trainer.max_epochs=6",
    ],
    "no_better_than_baseline (raw target)": [
        "+experiment=tiny_regression",
        "data.standardize_target=false",
        "trainer.max_epochs=8",
    ],
    "no_better_than_baseline (weight decay)": [
        "+experiment=tiny_multiclass",
        "model.optimizer.weight_decay=100",
        "trainer.max_epochs=8",
        *LONG,
    ],
    "class_imbalance": [
        "+experiment=tiny_binary",
        "data.class_fraction={1: 0.1}",
        "trainer.max_epochs=8",
    ],
    "exploding_gradients": [*DIVERGING_SGD, "trainer.max_epochs=8", *LONG],
    "non_finite_loss": [*DIVERGING_SGD, "trainer.max_epochs=40", *LONG],
    "overfitting": OVERFITTING,
}


def newest_summary(logs: Path, skip: set[Path]) -> tuple[Path, dict]:
    runs = [p for p in logs.glob("*/runs/*/summary.json") if p.parent not in skip]
    assert len(runs) == 1, runs
    return runs[0].parent, json.loads(runs[0].read_text())


def beats_baseline(summary: dict) -> bool:
    metrics, base = summary["metrics"], summary["baseline"]
    if "val/acc" in base:
        # class weights trade accuracy below the majority share for the rare class: then the
        # ranking (AUROC) and F1 must show it was found
        found_rare = metrics["val/auroc"] >= 0.8 and metrics["val/f1"] > base["val/f1"] + 0.3
        return metrics["val/acc"] > base["val/acc"] or found_rare
    return metrics["val/loss"] < 0.9 * base["val/loss"]


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CURABLE))
def test_the_printed_command_cures_the_run(tmp_path, case):
    code = case.split(" ")[0]
    logs = tmp_path / "logs"
    first = run_script("train.py", *CURABLE[case], *QUIET, f"paths.log_dir={logs}")
    sick_dir, sick = newest_summary(logs, set())
    found = {d["code"]: d for d in sick["diagnostics"]}
    assert code in found, (sorted(found), first.stderr[-2000:])
    finding = found[code]
    assert finding["try"] and finding["command"], finding
    command = shlex.split(finding["command"])
    assert command[:2] == ["python", "scripts/train.py"], command
    # the console shows the same command, ready to paste
    assert finding["command"] in " ".join(first.stdout.split()), first.stdout[-3000:]
    # the command as printed, with its first fix in place of what was there
    fixed = finding["try"][0]
    assert all(part in command for part in shlex.split(fixed)), (fixed, command)
    second = run_script("train.py", *command[2:])
    assert second.returncode == 0, second.stderr[-2000:]
    _, cured = newest_summary(logs, {sick_dir})
    codes = {d["code"] for d in cured["diagnostics"]}
    assert code not in codes, (fixed, [d["message"] for d in cured["diagnostics"]])
    assert not {d["code"] for d in cured["diagnostics"] if d["severity"] != "info"}, cured
    assert beats_baseline(cured), (cured["metrics"], cured["baseline"])
    key = "val/acc" if "val/acc" in cured["baseline"] else "val/loss"
    print(
        f"\n{case} | {' '.join(CURABLE[case])} | {finding['command']} | {key} "
        f"{sick['metrics'].get(key)} -> {cured['metrics'][key]:.4g} "
        f"(baseline {cured['baseline'][key]:.4g})"
    )
