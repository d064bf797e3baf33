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


def test_threshold_free_scores_are_sklearns_and_nan_without_two_classes():
    """ScoreMetrics: binary AUROC/AP of class 1; multiclass the one-vs-rest mean over the classes
    present (sklearn would refuse an absent class); NaN where no ranking can be scored."""
    import torch

    from trainkit.tasks.meters import ScoreMetrics

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (200,), generator=g)
    y[y == 2] = 3  # class 2 of 4 never occurs
    probs = torch.softmax(torch.randn(200, 4, generator=g) + 2 * torch.eye(4)[y], dim=1)
    scores = ScoreMetrics(4)
    for part in range(0, 200, 64):  # in batches
        scores.update(probs[part : part + 64], y[part : part + 64])
    got = scores.compute()
    onehot = np.eye(4)[y.numpy()]
    present = [0, 1, 3]
    auroc = np.mean([skm.roc_auc_score(onehot[:, c], probs[:, c]) for c in present])
    ap = np.mean([skm.average_precision_score(onehot[:, c], probs[:, c]) for c in present])
    assert float(got["auroc"]) == pytest.approx(auroc, rel=1e-5)
    assert float(got["average_precision"]) == pytest.approx(ap, rel=1e-5)

    binary = ScoreMetrics(2)
    p1, y1 = probs[:, 1], (y == 1).long()
    binary.update(p1, y1)
    got = binary.compute()
    assert float(got["auroc"]) == pytest.approx(skm.roc_auc_score(y1, p1), rel=1e-5)
    assert float(got["average_precision"]) == pytest.approx(
        skm.average_precision_score(y1, p1), rel=1e-5
    )
    one_class = ScoreMetrics(2)
    one_class.update(p1, torch.ones_like(y1))
    assert math.isnan(float(one_class.compute()["auroc"]))
    with pytest.warns(UserWarning, match="before the ``update``"):  # torchmetrics' own note
        assert math.isnan(float(ScoreMetrics(2).compute()["average_precision"]))  # none seen
