"""scripts/predict.py: predictions.csv for the test split or a CSV of raw inputs."""

from __future__ import annotations

import csv
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import read_summary, run_script, train_script
from sklearn.metrics import r2_score
from tiny import DATA_ENV


def data_file(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of a tiny experiment's data file, as the run read it."""
    with np.load(Path(os.environ[DATA_ENV]) / f"{name}.npz") as arrays:
        return arrays["X"], arrays["y"]


def train(tmp_path_factory, experiment: str):
    run_dir = tmp_path_factory.mktemp(experiment) / "run"
    return train_script(run_dir, f"+experiment={experiment}", "trainer.max_epochs=4")


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory):
    return train(tmp_path_factory, "tiny_binary")


def predict(tmp_path, run_dir, *args):
    out = tmp_path / "pred"
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    result = run_script("predict.py", f"ckpt_path={ckpt}", f"hydra.run.dir={out}", *args)
    return result, out / "predictions.csv"


def test_test_split_predictions_match_the_reported_accuracy(binary_run, tmp_path):
    result, path = predict(tmp_path, binary_run)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = list(csv.DictReader(path.open()))
    # integer labels name no classes: the columns take the class indices (1 = malignant)
    assert list(rows[0]) == ["index", "target", "prediction", "prob_0", "prob_1"]
    accuracy = sum(r["target"] == r["prediction"] for r in rows) / len(rows)
    assert accuracy == pytest.approx(read_summary(binary_run)["metrics"]["test/acc"], abs=1e-6)
    for r in rows:
        p1 = float(r["prob_1"])
        assert float(r["prob_0"]) + p1 == pytest.approx(1.0, abs=1e-5)
        assert int(r["prediction"]) == int(p1 > 0.5)


def test_raw_input_csv_is_scaled_like_training(binary_run, tmp_path):
    x, y = data_file("breast_cancer")
    source = tmp_path / "inputs.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"feature {i}" for i in range(x.shape[1])])  # a header row is skipped
        writer.writerows(x[:60].tolist())
    result, path = predict(tmp_path, binary_run, f"input_csv={source}")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 60 and "target" not in rows[0]
    malignant = y[:60]  # the file codes malignant as 1
    hits = sum(int(r["prediction"]) == t for r, t in zip(rows, malignant, strict=True))
    assert hits / 60 >= 0.85


def test_wrong_input_width_is_one_clear_line(binary_run, tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text("1,2,3\n4,5,6\n")
    result, _ = predict(tmp_path, binary_run, f"input_csv={source}")
    assert result.returncode == 2
    assert "line 1 has 3 columns, but every row must hold 30 numbers" in result.stderr
    assert "Traceback" not in result.stderr


def test_regression_values_are_in_target_units(tmp_path_factory, tmp_path):
    run_dir = train(tmp_path_factory, "tiny_regression")
    result, path = predict(tmp_path, run_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = list(csv.DictReader(path.open()))
    target = [float(r["target"]) for r in rows]
    prediction = [float(r["prediction"]) for r in rows]
    assert max(target) > 100  # disease progression, not standardised units
    # each one a target of the file (the experiment trains on standardised targets)
    assert Counter(target) <= Counter(data_file("diabetes")[1].astype(float).tolist())
    r2 = r2_score(target, prediction)
    assert math.isclose(r2, read_summary(run_dir)["metrics"]["test/r2"], rel_tol=1e-4)
