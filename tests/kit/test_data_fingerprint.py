"""A run records a fingerprint of its data; a changed data set is noticed by a resume (refused),
eval.py and predict.py (refused unless allow_data_change=true, then a recorded warning)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from conftest import read_summary, run_script, train_script
from test_bad_input import TEST_DATA, assert_clear_error, snapshot

SHA = re.compile(r"sha256:[0-9a-f]{64}")


@pytest.fixture(scope="module")
def run_on_own_data(tmp_path_factory):
    """A brief tiny_binary run on a private copy of its data file."""
    folder = tmp_path_factory.mktemp("fingerprint")
    data = folder / "table.npz"
    with np.load(TEST_DATA / "breast_cancer.npz") as arrays:
        np.savez(data, X=arrays["X"], y=arrays["y"])
    run = train_script(
        folder / "run", "+experiment=tiny_binary", "trainer.max_epochs=2", f"data.path={data}"
    )
    return run, data


def test_a_run_records_its_data_per_split(run_on_own_data):
    run, _ = run_on_own_data
    recorded = read_summary(run)["data_fingerprint"]
    assert set(recorded) == {"train", "val", "test"}
    assert all(SHA.fullmatch(v) for v in recorded.values()) and len(set(recorded.values())) == 3
    for name in ("best.ckpt", "last.ckpt"):
        stamp = torch.load(run / "checkpoints" / name, weights_only=True)["trainkit"]
        assert stamp["data_fingerprint"] == recorded


def test_changed_data_is_refused_or_accepted_with_a_recorded_warning(tmp_path, run_on_own_data):
    run, data = run_on_own_data
    best, last = run / "checkpoints" / "best.ckpt", run / "checkpoints" / "last.ckpt"
    same = run_script("eval.py", f"ckpt_path={best}", f"hydra.run.dir={tmp_path / 'same'}")
    assert same.returncode == 0, same.stderr[-2000:]
    assert read_summary(tmp_path / "same")["data_check"] == "same data as in training"

    with np.load(data) as arrays:  # the same rows in another order: the splits get other rows
        order = np.random.default_rng(0).permutation(len(arrays["y"]))
        np.savez(data, X=arrays["X"][order], y=arrays["y"][order])
    before = snapshot(run)

    refused = run_script("eval.py", f"ckpt_path={best}", f"hydra.run.dir={tmp_path / 'no'}")
    assert_clear_error(refused, "the test split", "allow_data_change=true")
    assert read_summary(tmp_path / "no")["status"] == "failed"

    accepted = run_script(
        "eval.py", f"ckpt_path={best}", "allow_data_change=true", f"hydra.run.dir={tmp_path / 'ok'}"
    )
    assert accepted.returncode == 0, accepted.stderr[-2000:]
    assert "WARNING: The data differs" in accepted.stderr
    summary = read_summary(tmp_path / "ok")
    assert summary["status"] == "completed" and "the test split" in summary["warnings"][0]
    assert summary["trained_data_fingerprint"] == read_summary(run)["data_fingerprint"]

    predicted = run_script("predict.py", f"ckpt_path={best}", f"hydra.run.dir={tmp_path / 'p'}")
    assert_clear_error(predicted, "the test split", "allow_data_change=true")
    assert not (tmp_path / "p" / "predictions.csv").exists()

    resumed = run_script(
        "train.py",
        "+experiment=tiny_binary",
        "trainer.max_epochs=4",
        f"data.path={data}",
        f"ckpt_path={last}",
    )
    assert_clear_error(resumed, "differs from what this run was trained on", "the train split")
    assert snapshot(run) == before  # the refused resume left the run as it was


def test_data_that_moved_is_found_again_with_data_path(tmp_path, run_on_own_data):
    run, data = run_on_own_data
    best = run / "checkpoints" / "best.ckpt"
    moved = tmp_path / "elsewhere.npz"
    with np.load(TEST_DATA / "breast_cancer.npz") as arrays:  # the data as it was trained on
        np.savez(moved, X=arrays["X"], y=arrays["y"])
    data.unlink()
    lost = run_script("eval.py", f"ckpt_path={best}", f"hydra.run.dir={tmp_path / 'lost'}")
    assert_clear_error(lost, f"no longer at {data}", "data_path=NEW_PATH")
    found = run_script(
        "eval.py", f"ckpt_path={best}", f"data_path={moved}", f"hydra.run.dir={tmp_path / 'ok'}"
    )
    assert found.returncode == 0, found.stderr[-2000:]
    assert read_summary(tmp_path / "ok")["data_check"] == "same data as in training"
