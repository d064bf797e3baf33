"""Reported numbers against independent references: the sanity check, baselines, confusion."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import TINY, compose_train, read_summary
from hydra.utils import instantiate
from references import best_predictions, reference_confusion
from sklearn import metrics as skm


def test_sanity_check_pass_never_counts(tmp_path):
    """One epoch with and without Lightning's sanity-check validation reports identical numbers."""
    from trainkit.run.train import train

    results = []
    for steps in (0, 2):
        cfg = compose_train(
            tmp_path / f"sanity{steps}",
            [
                "+experiment=tiny_multiclass",
                "trainer.max_epochs=1",
                f"trainer.num_sanity_val_steps={steps}",
                "data.eval_batch_size=5",
            ],
        )
        results.append(train(cfg)["metrics"])
    assert results[0] == results[1]


@pytest.mark.parametrize("name", TINY)
def test_baseline_is_the_trivial_predictor(trained_runs, name):
    """Majority class / class priors (classification), training mean (regression)."""
    run_dir, cfg = trained_runs[name]
    datamodule = instantiate(cfg.data)
    datamodule.setup("test")
    train_y = datamodule.targets("train").numpy()
    test_y = datamodule.targets("test").numpy()
    baseline = read_summary(run_dir)["baseline"]
    if datamodule.classification:
        prior = np.bincount(train_y) / len(train_y)
        majority = np.full_like(test_y, prior.argmax())
        assert math.isclose(
            baseline["test/acc"], skm.accuracy_score(test_y, majority), rel_tol=1e-6
        )
        assert math.isclose(
            baseline["test/loss"],
            skm.log_loss(test_y, np.tile(prior, (len(test_y), 1)), labels=range(len(prior))),
            rel_tol=1e-5,
        )
    else:
        std, mean = datamodule.target_std.item(), datamodule.target_mean.item()
        t = test_y.ravel() * std + mean
        prediction = np.full_like(t, train_y.mean() * std + mean)
        assert math.isclose(baseline["test/r2"], skm.r2_score(t, prediction), abs_tol=1e-5)
        assert math.isclose(
            baseline["test/mse"], skm.mean_squared_error(t, prediction), rel_tol=1e-5
        )
        assert math.isclose(
            baseline["test/loss"], float(((test_y - train_y.mean()) ** 2).mean()), rel_tol=1e-5
        )


@pytest.mark.parametrize("name", [n for n in TINY if n != "tiny_regression"])
def test_confusion_matrix_is_sklearns_on_the_best_checkpoint(trained_runs, name):
    """summary.json's test confusion matrix (rows = true class) from the best checkpoint."""
    run_dir, cfg = trained_runs[name]
    outputs, _ = best_predictions(run_dir, cfg)
    out, y = outputs["test"]
    assert read_summary(run_dir)["confusion_matrix"]["test"] == reference_confusion(out, y)
