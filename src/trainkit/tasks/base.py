"""The shared LightningModule: exact epoch losses, whole-split metrics, optimizer and schedule."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics import Metric, MetricCollection

from trainkit.compat.torchmetrics import mark_updated
from trainkit.errors import TrainkitError
from trainkit.tasks.meters import LossMeter

STAGES = ("train", "val", "test")
PROGRESS_BAR_KEYS = {"loss", "acc", "r2"}


class Task(L.LightningModule):
    """Wraps a plain `net`; subclasses define the batch loss and the metrics.

    Every epoch-level loss is sum(w_i * l_i) / sum(w_i) over the whole split (w_i = 1 unless
    class weights are set), summed from each batch's loss times its weight: the same number
    whatever the batch size. Metrics are torchmetrics objects updated every step and computed
    once at the end of the epoch; a step costs them a few tensor ops and no host sync.

    The epoch values go to the loggers at step = epoch number (0-based, as `summary.json`
    counts epochs), so runs of any batch size and data size line up epoch by epoch; test
    values at the epoch of the weights tested.
    """

    # What each stage logs as `{stage}/{name}`: the keys `monitor` may name.
    METRIC_NAMES: tuple[str, ...] = ("loss",)

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        monitor: str = "val/loss",
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        # channels_last: image batches and conv weights in NHWC order, which GPU convolution
        # kernels (tensor cores, bf16) run fastest on.
        self.channels_last = channels_last
        self.net = net.to(memory_format=torch.channels_last) if channels_last else net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.monitor = monitor
        self._net_fits = False  # set after the first forward pass worked
        # All metric state lives in one child, `meters` (so it moves and syncs with the module);
        # the dicts below are fast views of it.
        self.meters = nn.ModuleDict()
        self.epoch_loss: dict[str, LossMeter] = {}
        self.metrics: dict[str, Metric] = {}
        # What an epoch end leaves beside its scalars (e.g. a confusion matrix), per stage.
        self.epoch_details: dict[str, dict[str, Tensor]] = {}
        # The epoch of the weights last loaded from a checkpoint, and the epochs trained by the
        # last fit: where a test's values go in TensorBoard (epoch_step).
        self.weights_epoch: int | None = None
        self.fit_epochs: int | None = None
        for stage in STAGES:
            self.epoch_loss[stage] = LossMeter()
            self.metrics[stage] = self.build_metrics()
            self.meters[f"{stage}_loss"] = self.epoch_loss[stage]
            self.meters[f"{stage}_metrics"] = self.metrics[stage]

    # -- what subclasses define ------------------------------------------------------------
    def build_metrics(self) -> Metric:
        """A fresh metric (or collection) whose compute() gives {name: value}."""
        raise NotImplementedError

    def batch_loss(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor | int]:
        """The batch's loss, sum(w_i * l_i) / sum(w_i), and its total weight sum(w_i) (the batch
        size unless samples are weighted): the epoch loss is built from both."""
        raise NotImplementedError

    def metric_inputs(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """(preds, target) as the metrics take them."""
        raise NotImplementedError

    def constant_output(self, train_targets: Tensor, n: int) -> Tensor:
        """What the trivial predictor fitted on the training targets outputs for n samples."""
        raise NotImplementedError

    # -- the step ----------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def _step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        x, y = batch
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        out = self.net(x) if self._net_fits else self._first_forward(x)
        loss, weight = self.batch_loss(out, y)
        self.epoch_loss[stage].update(loss.detach(), weight)
        self.update_metrics(stage, out.detach(), y)
        return loss

    def update_metrics(self, stage: str, out: Tensor, y: Tensor) -> None:
        """Feed the stage's metrics one batch of (detached) outputs."""
        self.metrics[stage].update(*self.metric_inputs(out, y))

    def _first_forward(self, x: Tensor) -> Tensor:
        """The first forward pass: a net that cannot take the data's inputs gets a clear error."""
        try:
            out = self.net(x)
        except RuntimeError as exc:
            reason = (str(exc).strip().splitlines() or [""])[0]
            shapes = any(word in reason for word in ("shape", "size", "mat1", "channels"))
            if isinstance(exc, torch.OutOfMemoryError) or not shapes:
                raise
            raise TrainkitError(
                f"model.net cannot take this data's inputs: a batch has shape {tuple(x.shape)} "
                f'and the net fails with "{reason}". Make the net\'s input size match the '
                "data (e.g. model.net.in_features or model.net.in_channels)."
            ) from exc
        self._net_fits = True
        return out

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "test")

    # -- epoch ends --------------------------------------------------------------------------
    def compute_epoch(self, stage: str) -> dict[str, Tensor]:
        """The stage's loss and metrics over everything seen since the last reset."""
        values = {f"{stage}/loss": self.epoch_loss[stage].compute()}
        for name, value in self.metrics[stage].compute().items():
            values[f"{stage}/{name}"] = value
        return values

    def reset_epoch(self, stage: str) -> None:
        self.epoch_loss[stage].reset()
        self.metrics[stage].reset()

    def detail_scalars(self, stage: str) -> dict[str, float]:
        """Extra scalars for the loggers only (e.g. per-class scores), from `epoch_details`."""
        return {}

    def epoch_step(self, stage: str) -> int:
        """The step the loggers get the stage's epoch values at: the epoch number. A test after
        training: the number of epochs trained (the step after the last epoch, where a resumed
        run's test replaces it); of weights loaded for testing alone: their checkpoint's epoch."""
        if stage != "test":
            return self.trainer.current_epoch
        if self.fit_epochs is not None:
            return self.fit_epochs
        return self.weights_epoch or 0

    def finish_epoch(self, stage: str) -> None:
        """Log the stage's epoch values; the sanity-check pass is discarded, never logged.

        `self.log` (not to the loggers) makes them known to callbacks and the progress bar;
        a logger that takes epoch values (trainkit.report.loggers.TensorBoardLogger) gets them, and
        `detail_scalars`, at step `epoch_step(stage)`; any other gets what Lightning hands it.
        """
        if not self.trainer.sanity_checking:
            values = self.compute_epoch(stage)
            # Training values are logged after validation, so only val/* is current on the bar.
            for key, value in values.items():
                bar = stage == "val" and key.split("/")[-1] in PROGRESS_BAR_KEYS
                self.log(key, value, prog_bar=bar)
            details = self.detail_scalars(stage)
            for logger in self.loggers:
                if hasattr(logger, "log_epoch_metrics"):
                    scalars = {k: float(v) for k, v in values.items()}
                    logger.log_epoch_metrics({**scalars, **details}, self.epoch_step(stage))
                elif details:
                    logger.log_metrics(details, step=self.trainer.global_step)
        self.reset_epoch(stage)

    def on_fit_end(self) -> None:
        self.fit_epochs = self.trainer.current_epoch

    def on_train_epoch_end(self) -> None:
        self.finish_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self.finish_epoch("val")

    def on_test_epoch_end(self) -> None:
        self.finish_epoch("test")

    # -- resume mid-epoch: the training epoch's running sums go into the checkpoint ------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Every process saves; under DDP the file is rank 0's, so it holds the sums of all
        # processes (torchmetrics' sync), and on resume only rank 0 takes them back.
        meters = {}
        for name, metric in self._train_meters():
            with metric.sync_context(should_sync=self.trainer.world_size > 1):
                for key, value in metric.metric_state.items():
                    meters[f"{name}.{key}"] = value.clone() if isinstance(value, Tensor) else value
        checkpoint["train_meters"] = meters

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        epoch = checkpoint.get("epoch")
        self.weights_epoch = epoch if isinstance(epoch, int) else None
        saved = checkpoint.get("train_meters", {})
        if self.global_rank != 0:
            return
        for name, metric in self._train_meters():
            values = {key: saved.get(f"{name}.{key}") for key in metric.metric_state}
            if any(v is None for v in values.values()):  # saved by another version: start over
                continue
            for key, value in values.items():
                if isinstance(value, list):  # list states (e.g. concatenated predictions)
                    setattr(metric, key, [v.to(self.device) for v in value])
                else:
                    setattr(metric, key, value.to(self.device))
            mark_updated(metric)  # restored sums count as seen: compute() needs no new update

    def _train_meters(self) -> list[tuple[str, Metric]]:
        # the stage's own meters (a collection's members); metrics nested inside a meter (scores
        # computed from its counts) hold nothing between epochs
        found: list[tuple[str, Metric]] = []
        for name, meter in self.meters.items():
            if name.startswith("train"):
                members = meter.items() if isinstance(meter, MetricCollection) else [("", meter)]
                found += [(f"{name}.{key}" if key else name, m) for key, m in members]
        return found

    # -- the trivial baseline, through the same loss and metric code ---------------------------
    @torch.no_grad()
    def baseline_metrics(self, train_targets: Tensor, targets: Tensor, stage: str) -> dict:
        """Loss and metrics of the trivial predictor (majority class / train mean)."""
        # on the task's device, where its loss weights are (the labels come from the CPU)
        out = self.constant_output(train_targets, len(targets)).to(self.device)
        targets = targets.to(self.device)
        metrics = self.build_metrics().to(self.device)
        metrics.update(*self.metric_inputs(out, targets))
        values = {f"{stage}/loss": self.batch_loss(out, targets)[0]}
        values.update({f"{stage}/{k}": v for k, v in metrics.compute().items()})
        return {k: float(v) for k, v in values.items() if v.ndim == 0}

    # -- optimisation ------------------------------------------------------------------------
    @property
    def lr(self) -> float | None:
        """The optimizer's configured learning rate (what tune.lr_find reads and sets)."""
        return getattr(self.optimizer_factory, "keywords", {}).get("lr")

    @lr.setter
    def lr(self, value: float) -> None:
        factory = self.optimizer_factory
        self.optimizer_factory = functools.partial(
            factory.func, *factory.args, **{**factory.keywords, "lr": value}
        )

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": self.monitor, "interval": "epoch"},
        }
