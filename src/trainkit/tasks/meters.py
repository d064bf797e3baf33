"""Epoch-level meters that cost a few tensor ops per step: exact sums now, metrics at epoch end.

Both are torchmetrics `Metric`s, so their state moves with the module, is summed across
processes under DDP when computed, and is reset like any other metric.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryF1Score,
    BinaryPrecision,
    BinaryRecall,
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from trainkit.compat.torchmetrics import PinnedDtypeMetric

# Sums over a whole split stay exact to float64 rounding; Apple's MPS has no float64.
SUM_DTYPE = torch.float32 if torch.backends.mps.is_available() else torch.float64


class LossMeter(PinnedDtypeMetric):
    """The epoch loss: sum(w_i * l_i) / sum(w_i) over every sample seen (w_i = 1 unweighted).

    Each step adds a batch's mean loss times the batch's weight (its size, unless samples are
    weighted), so the result is the same whatever the batch size, the last partial batch
    included. A NaN loss stays NaN (looking for one would cost a host sync every step).
    """

    full_state_update = False
    # Module.to(dtype) (Lightning's bf16-true / 16-true) would turn the sums into 16-bit floats,
    # which cannot even count past 256 samples: they stay float64.
    pinned_dtypes = {"total": SUM_DTYPE, "weight": SUM_DTYPE}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("total", torch.zeros((), dtype=SUM_DTYPE), dist_reduce_fx="sum")
        self.add_state("weight", torch.zeros((), dtype=SUM_DTYPE), dist_reduce_fx="sum")

    def update(self, loss: Tensor, weight: Tensor | int) -> None:
        # In place: no module attribute is set on the per-step path.
        self.total.add_(loss * weight)
        self.weight.add_(weight)

    def compute(self) -> Tensor:
        return (self.total / self.weight).float()


class ConfusionMetrics(Metric):
    """Accuracy, precision, recall and F1 of hard class predictions, and the confusion matrix.

    Per step it only counts (target, prediction) pairs, with no host sync. At the end of the epoch
    torchmetrics' own accuracy, precision, recall and F1 are computed from those counts; all
    four depend on the counts alone, so the values are exactly those of updating them every
    step. Binary (`num_classes=2`): precision, recall and F1 of class 1. Multiclass: macro
    averages; accuracy is plain micro accuracy. Rows of the matrix are true classes.
    """

    full_state_update = False

    def __init__(self, num_classes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes
        # flat (target * C + prediction) counts; the matrix is this reshaped to (C, C)
        self.add_state(
            "counts", torch.zeros(num_classes**2, dtype=torch.long), dist_reduce_fx="sum"
        )
        # Fed the already summed counts once per compute, so they must not sync again.
        kw: dict[str, Any] = {"validate_args": False, "sync_on_compute": False}
        if num_classes == 2:
            metrics = {
                "acc": BinaryAccuracy(**kw),
                "precision": BinaryPrecision(**kw),
                "recall": BinaryRecall(**kw),
                "f1": BinaryF1Score(**kw),
            }
        else:
            kw["num_classes"] = num_classes
            metrics = {
                "acc": MulticlassAccuracy(average="micro", **kw),
                "precision": MulticlassPrecision(average="macro", **kw),
                "recall": MulticlassRecall(average="macro", **kw),
                "f1": MulticlassF1Score(average="macro", **kw),
            }
        self.scores = MetricCollection(metrics)

    def update(self, preds: Tensor, target: Tensor) -> None:
        c = self.num_classes
        pairs = target * c + preds
        if pairs.is_cpu:
            self.counts.add_(torch.bincount(pairs, minlength=c * c))
        else:  # bincount sizes its result from the data, which costs a GPU a host sync
            self.counts.index_add_(0, pairs, torch.ones_like(pairs))

    def compute(self) -> dict[str, Tensor]:
        counts = self.counts
        matrix = counts.reshape(self.num_classes, self.num_classes).clone()
        if not counts.any():  # nothing counted: every score 0, as torchmetrics reports it
            return {
                **{k: counts.new_zeros((), dtype=torch.float) for k in self.scores},
                "confusion": matrix,
            }
        pairs = torch.arange(counts.numel(), device=counts.device)
        target = (pairs // self.num_classes).repeat_interleave(counts)
        preds = (pairs % self.num_classes).repeat_interleave(counts)
        self.scores.reset()
        self.scores.update(preds, target)
        return {**self.scores.compute(), "confusion": matrix}
