"""The lean training step: cheap meters that give torchmetrics' exact values, an opt-in hook
dispatch that changes nothing but the cost, and no host sync per step on a GPU."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Checkpoint, EarlyStopping
from lightning.pytorch.trainer import call
from tiny import TinyCNN, mlp
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryF1Score,
    BinaryPrecision,
    BinaryRecall,
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from trainkit.compat.lightning import call_defined_hooks, defined_hooks_only, logs_this_step
from trainkit.data.loader import TensorBatchLoader
from trainkit.tasks import ClassificationTask
from trainkit.tasks.meters import ConfusionMetrics, LossMeter


def per_step_reference(num_classes: int) -> MetricCollection:
    """torchmetrics' own metrics, updated every step the ordinary way (per class too)."""
    kw = {"num_classes": num_classes}
    per_class = {
        "precision_per_class": MulticlassPrecision(average=None, **kw),
        "recall_per_class": MulticlassRecall(average=None, **kw),
        "f1_per_class": MulticlassF1Score(average=None, **kw),
    }
    if num_classes == 2:
        return MetricCollection(
            {
                "acc": BinaryAccuracy(),
                "precision": BinaryPrecision(),
                "recall": BinaryRecall(),
                "f1": BinaryF1Score(),
                **per_class,
            }
        )
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(average="micro", **kw),
            "precision": MulticlassPrecision(average="macro", **kw),
            "recall": MulticlassRecall(average="macro", **kw),
            "f1": MulticlassF1Score(average="macro", **kw),
            **per_class,
        }
    )


@pytest.mark.parametrize("num_classes", [2, 3, 7])
def test_confusion_metrics_equal_torchmetrics_updated_every_step(num_classes):
    g = torch.Generator().manual_seed(num_classes)
    ours, reference = ConfusionMetrics(num_classes), per_step_reference(num_classes)
    matrix = MulticlassConfusionMatrix(num_classes)
    # skewed predictions, a class never predicted and batches of uneven size
    for size in (5, 64, 1, 33, 17):
        target = torch.randint(0, num_classes, (size,), generator=g)
        preds = torch.where(torch.rand(size, generator=g) < 0.6, target, 0)
        ours.update(preds, target)
        reference.update(preds, target)
        matrix.update(preds, target)
    values = ours.compute()
    assert torch.equal(values.pop("confusion"), matrix.compute())
    expected = reference.compute()
    assert values.keys() == expected.keys()
    for name, value in values.items():
        assert torch.allclose(value, expected[name], atol=1e-7), name


def test_loss_meter_gives_the_per_sample_mean_for_any_batching():
    losses = torch.rand(103, generator=torch.Generator().manual_seed(0)) * 5
    weights = torch.rand(103, generator=torch.Generator().manual_seed(1)) + 0.1
    for size in (1, 10, 64, 103):
        plain, weighted = LossMeter(), LossMeter()
        for part, w in zip(losses.split(size), weights.split(size), strict=True):
            plain.update(part.mean(), len(part))
            weighted.update((part * w).sum() / w.sum(), w.sum())
        assert torch.allclose(plain.compute(), losses.mean())
        assert torch.allclose(weighted.compute(), (losses * weights).sum() / weights.sum())


class Recorder(L.Callback):
    """Writes down every hook it defines, with what it was given."""

    def __init__(self, log: list) -> None:
        self.records = log

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.records.append(("batch_start", batch_idx, pl_module._current_fx_name))

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.records.append(
            ("before_optimizer_step", trainer.global_step, type(optimizer).__name__)
        )

    def on_validation_end(self, trainer, pl_module):
        self.records.append(("validation_end", trainer.current_epoch))


class WatchCheckpoint(Checkpoint):
    def __init__(self, log: list) -> None:
        self.records = log

    def on_validation_end(self, trainer, pl_module):
        self.records.append(("checkpoint_validation_end", trainer.current_epoch))


def fit_and_record(fast: bool) -> list:
    log: list = []
    instance_hooked = L.Callback()
    instance_hooked.on_train_epoch_end = lambda trainer, module: log.append(("epoch_end",))
    torch.manual_seed(0)
    x, y = torch.randn(40, 4), torch.randint(0, 2, (40,))
    task = ClassificationTask(
        mlp(4, 2, hidden=8, dropout=0.0), lambda p: torch.optim.SGD(p, lr=0.1), num_classes=2
    )
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Recorder(log), WatchCheckpoint(log), instance_hooked],
    )
    with defined_hooks_only(fast):
        assert (call._call_callback_hooks is call_defined_hooks) == fast
        trainer.fit(task, TensorBatchLoader(x, y, 16), TensorBatchLoader(x, y, 16))
    return log


def test_only_defined_hooks_called_changes_nothing_else():
    stock, fast = fit_and_record(False), fit_and_record(True)
    assert stock == fast
    assert ("batch_start", 0, "on_train_batch_start") in fast
    assert ("epoch_end",) in fast and ("checkpoint_validation_end", 1) in fast
    assert call._call_callback_hooks is not call_defined_hooks  # restored after the block


def test_monitoring_callbacks_are_picked_as_lightning_picks_them():
    log: list = []
    trainer = L.Trainer(
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Recorder(log), WatchCheckpoint(log), EarlyStopping("val/loss")],
    )
    trainer.strategy.connect(ClassificationTask(mlp(4, 2), torch.optim.SGD, num_classes=2))
    results = {}
    for dispatch in (call._call_callback_hooks, call_defined_hooks):
        for monitoring in (None, True, False):
            log.clear()
            dispatch(trainer, "on_validation_end", monitoring_callbacks=monitoring)
            results.setdefault(monitoring, []).append(list(log))
    for monitoring, (stock, fast) in results.items():
        assert stock == fast, monitoring
    assert results[True][0] == [("checkpoint_validation_end", 0)]


GPU_RUNS = {
    "multiclass": [],
    "multiclass, balanced class weights": ["model.class_weights=balanced"],
    "binary, balanced pos_weight": ["+experiment=tiny_binary", "model.pos_weight=balanced"],
    "cnn, bf16-mixed, channels_last": [
        "+experiment=tiny_cnn",
        "trainer.precision=bf16-mixed",
        "model.channels_last=true",
    ],
}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", GPU_RUNS)
def test_no_host_sync_in_a_training_step_on_gpu(tmp_path, name):
    """A whole Lightning training step of a real run (task, metrics, every default callback,
    TensorBoard) makes no host sync unless it is a logging step."""
    from conftest import compose_train

    from trainkit.run.train import build

    overrides = GPU_RUNS[name]
    if not any(o.startswith("+experiment=") for o in overrides):
        overrides = ["+experiment=tiny_multiclass", *overrides]
    cfg = compose_train(
        tmp_path / "run",
        [*overrides, "trainer.accelerator=gpu", "trainer.max_epochs=3", "data.batch_size=8"],
    )
    datamodule, model, trainer, _ = build(cfg)
    loop = trainer.fit_loop.epoch_loop
    advance, checked = loop.advance, []

    def advance_without_syncs(data_fetcher):
        if logs_this_step(trainer):  # this step logs: syncs allowed
            return advance(data_fetcher)
        torch.cuda.set_sync_debug_mode("error")
        try:
            advance(data_fetcher)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        checked.append(trainer.global_step)

    loop.advance = advance_without_syncs
    trainer.fit(model, datamodule=datamodule)
    assert len(checked) >= 20, checked
    assert trainer.current_epoch == 3 and math.isfinite(trainer.callback_metrics["val/loss"])


def test_channels_last_and_bf16_mixed_train_the_cnn():
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))
    losses = {}
    for channels_last in (False, True):
        torch.manual_seed(0)
        task = ClassificationTask(
            TinyCNN(1, 8, 10), torch.optim.SGD, num_classes=10, channels_last=channels_last
        )
        if channels_last:
            weight = next(p for p in task.net.parameters() if p.ndim == 4)
            assert weight.is_contiguous(memory_format=torch.channels_last)
        losses[channels_last] = task.training_step((x, y), 0)
    assert torch.allclose(losses[False], losses[True], atol=1e-5)

    trainer = L.Trainer(
        accelerator="cpu",
        precision="bf16-mixed",
        fast_dev_run=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    task = ClassificationTask(
        TinyCNN(1, 8, 10), lambda p: torch.optim.SGD(p, lr=0.1), 10, channels_last=True
    )
    trainer.fit(task, TensorBatchLoader(x, y, 16), TensorBatchLoader(x, y, 16))
    assert torch.isfinite(trainer.callback_metrics["val/loss"])


def test_meters_keep_exact_sums_under_half_precision_and_report_empty_epochs():
    meter = LossMeter().to(torch.bfloat16)  # what Lightning's bf16-true does to the module
    for _ in range(300):
        meter.update(torch.tensor(0.5, dtype=torch.bfloat16), 64)
    assert meter.total.dtype == torch.float64 and meter.compute() == 0.5
    meter.reset()
    assert meter.weight.dtype == torch.float64
    with pytest.warns(UserWarning, match="called before the ``update``"):
        empty = ConfusionMetrics(3).compute()
    assert empty["acc"] == 0 and empty["confusion"].sum() == 0
