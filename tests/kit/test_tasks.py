"""The tasks' losses, shape checks and class weights, on hand-made tensors."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F

from trainkit.errors import TrainkitError
from trainkit.tasks import ClassificationTask, RegressionTask

ADAM = functools.partial(torch.optim.Adam, lr=1e-3)


def classifier(num_classes: int, out: int, **kwargs) -> ClassificationTask:
    return ClassificationTask(torch.nn.Linear(4, out), ADAM, num_classes=num_classes, **kwargs)


def test_binary_one_logit_uses_bce_with_logits():
    task = classifier(2, 1)
    out, y = torch.randn(6, 1), torch.tensor([0, 1, 1, 0, 1, 0])
    loss, weight = task.batch_loss(out, y)
    expected = F.binary_cross_entropy_with_logits(out.reshape(-1), y.float())
    assert weight == 6 and torch.allclose(loss, expected)
    assert torch.equal(task.predict_classes(out), (out.reshape(-1) > 0).long())
    assert torch.allclose(task.probabilities(out).sum(1), torch.ones(6))


def test_class_weights_give_torch_weighted_mean():
    task = classifier(3, 3, class_weights=[1.0, 2.0, 5.0])
    out, y = torch.randn(8, 3), torch.tensor([0, 1, 2, 2, 1, 0, 2, 1])
    w = torch.tensor([1.0, 2.0, 5.0])
    loss, weight = task.batch_loss(out, y)
    per_sample = F.cross_entropy(out, y, reduction="none")
    assert torch.allclose(loss, (w[y] * per_sample).sum() / w[y].sum())
    assert torch.allclose(weight, w[y].sum())
    # one logit: the same weighted mean, built by hand from torch's per-sample BCE
    task = classifier(2, 1, class_weights=[1.0, 4.0])
    out, y = torch.randn(8, 1), torch.tensor([0, 1, 1, 0, 0, 0, 1, 0])
    w = torch.tensor([1.0, 4.0])[y]
    bce = F.binary_cross_entropy_with_logits(out.reshape(-1), y.float(), reduction="none")
    loss, weight = task.batch_loss(out, y)
    assert torch.allclose(loss, (w * bce).sum() / w.sum()) and torch.allclose(weight, w.sum())


@pytest.mark.parametrize(("num_classes", "out"), [(3, 2), (2, 3), (10, 1)])
def test_wrong_output_shape_is_named(num_classes, out):
    task = classifier(num_classes, out)
    with pytest.raises(TrainkitError, match="The net returns shape"):
        task.batch_loss(torch.randn(4, out), torch.zeros(4, dtype=torch.long))


def test_float_or_one_hot_targets_are_refused():
    task = classifier(3, 3)
    with pytest.raises(TrainkitError, match="class indices"):
        task.batch_loss(torch.randn(4, 3), torch.zeros(4, 3))


def test_regression_refuses_broadcasting_shapes():
    task = RegressionTask(torch.nn.Linear(4, 1), ADAM)
    with pytest.raises(TrainkitError, match=r"targets have shape \(5,\)"):
        task.batch_loss(torch.randn(5, 1), torch.randn(5))
    loss, weight = task.batch_loss(torch.ones(5, 2), torch.zeros(5, 2))
    assert torch.equal(loss, torch.tensor(1.0)) and weight == 5


def test_balanced_class_weights_come_from_the_training_labels():
    import lightning as L
    from sklearn.datasets import load_wine

    from trainkit.data import ArrayDataModule

    dm = ArrayDataModule(source=lambda: load_wine(return_X_y=True), num_classes=3, seed=0)
    task = ClassificationTask(torch.nn.Linear(13, 3), ADAM, num_classes=3, class_weights="balanced")
    trainer = L.Trainer(
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(task, datamodule=dm)
    counts = torch.bincount(dm.targets("train"), minlength=3).float()
    assert torch.allclose(task.class_weights, counts.sum() / (3 * counts))


@pytest.mark.parametrize(
    "task",
    [classifier(2, 1), classifier(3, 3), RegressionTask(torch.nn.Linear(4, 2), ADAM)],
    ids=["binary", "multiclass", "regression"],
)
def test_declared_metric_names_are_what_an_epoch_logs(task):
    """`monitor` is checked against METRIC_NAMES before training: they must be the real ones."""
    x = torch.randn(8, 4)
    y = torch.randint(0, 2, (8,)) if isinstance(task, ClassificationTask) else torch.randn(8, 2)
    out = task(x)
    task.epoch_loss["val"].update(*task.batch_loss(out, y))
    task.update_metrics("val", out, y)
    logged = set(task.compute_epoch("val"))
    assert logged == {f"val/{name}" for name in task.METRIC_NAMES}
