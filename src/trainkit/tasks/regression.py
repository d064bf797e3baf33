"""Regression with mean squared error; metrics mse, mae and r2."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score

from trainkit.errors import TrainkitError
from trainkit.tasks.base import Task


class RegressionTask(Task):
    """MSE regression; targets have the net's output shape, e.g. (N, 1).

    When the data module standardised the target (it exposes `target_mean` and `target_std`),
    the loss is the MSE the optimiser sees, on the standardised target, while mse, mae and r2
    are reported in the target's own units.
    """

    METRIC_NAMES = ("loss", "mse", "mae", "r2")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("target_mean", None, persistent=False)
        self.register_buffer("target_std", None, persistent=False)

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        mean = getattr(datamodule, "target_mean", None)
        std = getattr(datamodule, "target_std", None)
        if mean is not None and std is not None:
            self.target_mean = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1)
            self.target_std = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1)

    def build_metrics(self) -> MetricCollection:
        return MetricCollection(
            {"mse": MeanSquaredError(), "mae": MeanAbsoluteError(), "r2": R2Score()}
        )

    def batch_loss(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor | int]:
        if out.shape != y.shape:
            # (N,) against (N, 1) would broadcast to (N, N) and silently train on nonsense.
            raise TrainkitError(
                f"The net returns shape {tuple(out.shape)} but the targets have shape "
                f"{tuple(y.shape)}; make the net's output match the targets "
                f"(e.g. out_features={y.shape[1] if y.ndim > 1 else 1})."
            )
        # Every sample has the same number of outputs, so the mean over all values is the mean
        # over samples of each sample's mean squared error.
        return F.mse_loss(out, y), y.shape[0]

    def metric_inputs(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if self.target_mean is not None:  # back to the target's own units
            out = out * self.target_std + self.target_mean
            y = y * self.target_std + self.target_mean
        if out.ndim == 2 and out.shape[1] == 1:
            return out.reshape(-1), y.reshape(-1)
        return out, y

    def constant_output(self, train_targets: Tensor, n: int) -> Tensor:
        mean = train_targets.float().mean(dim=0, keepdim=True)
        return mean.expand(n, *mean.shape[1:])
