"""Every reported number against an independent reference: scikit-learn and hand-written losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import EXPERIMENTS, compose_train, read_summary
from hydra.utils import instantiate
from sklearn import metrics as skm

CLASSIFIERS = ("binary", "multiclass", "cnn")


def best_predictions(run_dir, cfg):
    """The best checkpoint's raw outputs on each split, computed here without Lightning."""
    datamodule = instantiate(cfg.data)
    datamodule.setup("test")
    model = instantiate(cfg.model)
    state = torch.load(run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    model.load_state_dict(state["state_dict"])
    model.eval()
    with torch.no_grad():
        outputs = {s: (model.net(x), y) for s, (x, y) in datamodule.splits.items()}
    return outputs, datamodule


def reference_classification(out: torch.Tensor, y: torch.Tensor, binary: bool) -> dict:
    y_np = y.numpy()
    if binary:
        z = out.reshape(-1)
        loss = -(y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z)).mean()
        pred = (torch.sigmoid(z) > 0.5).long().numpy()
        average = "binary"
    else:
        loss = -out.log_softmax(dim=1)[torch.arange(len(y)), y].mean()
        pred = out.argmax(dim=1).numpy()
        average = "macro"
    kw = {"average": average, "zero_division": 0}
    return {
        "loss": float(loss),
        "acc": skm.accuracy_score(y_np, pred),
        "precision": skm.precision_score(y_np, pred, **kw),
        "recall": skm.recall_score(y_np, pred, **kw),
        "f1": skm.f1_score(y_np, pred, **kw),
    }


def reference_regression(out: torch.Tensor, y: torch.Tensor, mean: float, std: float) -> dict:
    """Loss on the standardised target the model trains on; mse, mae, r2 in the target's units."""
    o, t = (out.numpy() * std + mean).ravel(), (y.numpy() * std + mean).ravel()
    return {
        "loss": float(((out - y) ** 2).mean()),
        "mse": skm.mean_squared_error(t, o),
        "mae": skm.mean_absolute_error(t, o),
        "r2": skm.r2_score(t, o),
    }


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_reported_metrics_equal_sklearn_on_best_checkpoint(trained_runs, name):
    run_dir, cfg = trained_runs[name]
    summary = read_summary(run_dir)
    outputs, datamodule = best_predictions(run_dir, cfg)
    for split in ("val", "test"):
        out, y = outputs[split]
        if name in CLASSIFIERS:
            expected = reference_classification(out, y, binary=name == "binary")
        else:
            mean, std = datamodule.target_mean.item(), datamodule.target_std.item()
            expected = reference_regression(out, y, mean, std)
        for metric, value in expected.items():
            reported = summary["metrics"][f"{split}/{metric}"]
            assert math.isclose(reported, value, rel_tol=1e-5, abs_tol=1e-6), (
                f"{name} {split}/{metric}: reported {reported}, reference {value}"
            )
    if name in CLASSIFIERS:  # the test confusion matrix, rows = true class
        out, y = outputs["test"]
        pred = (out.reshape(-1) > 0).long() if name == "binary" else out.argmax(dim=1)
        labels = list(range(out.shape[1] if out.ndim == 2 and out.shape[1] > 1 else 2))
        expected_matrix = skm.confusion_matrix(y.numpy(), pred.numpy(), labels=labels)
        assert summary["confusion_matrix"]["test"] == expected_matrix.tolist()


@pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")
@pytest.mark.parametrize("name", ["binary", "regression"])
def test_epoch_loss_does_not_depend_on_batch_size(trained_runs, name, tmp_path):
    """Validate one checkpoint with batch sizes 1, 7 and 1000: the loss is the same number."""
    import lightning as L

    run_dir, _ = trained_runs[name]
    losses = []
    for batch_size in (1, 7, 1000):
        cfg = compose_train(
            tmp_path / str(batch_size),
            [f"+experiment={name}", f"data.eval_batch_size={batch_size}"],
        )
        trainer = L.Trainer(
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            default_root_dir=tmp_path,
        )
        result = trainer.validate(
            instantiate(cfg.model),
            datamodule=instantiate(cfg.data),
            ckpt_path=str(run_dir / "checkpoints" / "best.ckpt"),
            verbose=False,
            weights_only=True,
        )
        losses.append(result[0]["val/loss"])
    assert max(losses) - min(losses) < 1e-6 * max(1.0, abs(losses[0])), losses
    assert math.isclose(losses[0], read_summary(run_dir)["metrics"]["val/loss"], rel_tol=1e-5)


def test_sanity_check_pass_never_counts(tmp_path):
    """One epoch with and without Lightning's sanity-check validation reports identical numbers."""
    from trainkit.run.train import train

    results = []
    for steps in (0, 2):
        cfg = compose_train(
            tmp_path / f"sanity{steps}",
            [
                "+experiment=multiclass",
                "trainer.max_epochs=1",
                f"trainer.num_sanity_val_steps={steps}",
                "data.eval_batch_size=5",
            ],
        )
        results.append(train(cfg)["metrics"])
    assert results[0] == results[1]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_baseline_is_the_trivial_predictor(trained_runs, name):
    """Majority class / class priors (classification), training mean (regression)."""
    run_dir, cfg = trained_runs[name]
    datamodule = instantiate(cfg.data)
    datamodule.setup("test")
    train_y = datamodule.targets("train").numpy()
    test_y = datamodule.targets("test").numpy()
    baseline = read_summary(run_dir)["baseline"]
    if name in CLASSIFIERS:
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
