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
        return {s: (model.net(x), y) for s, (x, y) in datamodule.splits.items()}


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


def reference_regression(out: torch.Tensor, y: torch.Tensor) -> dict:
    o, t = out.numpy().ravel(), y.numpy().ravel()
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
    outputs = best_predictions(run_dir, cfg)
    for split in ("val", "test"):
        out, y = outputs[split]
        if name in CLASSIFIERS:
            expected = reference_classification(out, y, binary=name == "binary")
        else:
            expected = reference_regression(out, y)
        for metric, value in expected.items():
            reported = summary["metrics"][f"{split}/{metric}"]
            assert math.isclose(reported, value, rel_tol=1e-5, abs_tol=1e-6), (
                f"{name} {split}/{metric}: reported {reported}, reference {value}"
            )


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
        trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
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
    from trainkit.run import train

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


def test_baseline_is_the_trivial_predictor(trained_runs):
    """Majority class (classification) and training mean (regression), scored independently."""
    for name in ("binary", "regression"):
        run_dir, cfg = trained_runs[name]
        datamodule = instantiate(cfg.data)
        datamodule.setup("test")
        train_y = datamodule.targets("train").numpy()
        test_y = datamodule.targets("test").numpy()
        baseline = read_summary(run_dir)["baseline"]
        if name == "binary":
            majority = np.bincount(train_y).argmax()
            expected = skm.accuracy_score(test_y, np.full_like(test_y, majority))
            assert math.isclose(baseline["test/acc"], expected, rel_tol=1e-6)
        else:
            prediction = np.full_like(test_y, train_y.mean())
            assert math.isclose(baseline["test/r2"], skm.r2_score(test_y, prediction), abs_tol=1e-5)
            assert math.isclose(
                baseline["test/mse"], skm.mean_squared_error(test_y, prediction), rel_tol=1e-5
            )
