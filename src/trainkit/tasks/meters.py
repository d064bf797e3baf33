"""Epoch-level meters that cost a few tensor ops per step: exact sums now, metrics at epoch end.

Both are torchmetrics `Metric`s, so their state moves with the module, is summed across
processes under DDP when computed, and is reset like any other metric.
"""

from __future__ import annotations

import warnings
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
from torchmetrics.functional.classification import (
    binary_auroc,
    binary_average_precision,
    multiclass_auroc,
    multiclass_average_precision,
)
from torchmetrics.utilities import dim_zero_cat

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
    """Accuracy, precision, recall and F1 of hard class predictions, per class too, and the
    confusion matrix.

    Per step it only counts (target, prediction) pairs, with no host sync. At the end of the epoch
    torchmetrics' own accuracy, precision, recall and F1 are computed from those counts; all
    four depend on the counts alone, so the values are exactly those of updating them every
    step. Binary (`num_classes=2`): precision, recall and F1 of class 1. Multiclass: macro
    averages; accuracy is plain micro accuracy. Rows of the matrix are true classes. The
    per-class values (`*_per_class`, one entry per class, binary included) are torchmetrics'
    `average=None` scores.
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
        per_class = {"num_classes": num_classes, "average": None, **kw}
        metrics["precision_per_class"] = MulticlassPrecision(**per_class)
        metrics["recall_per_class"] = MulticlassRecall(**per_class)
        metrics["f1_per_class"] = MulticlassF1Score(**per_class)
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
            zeros = {
                k: counts.new_zeros(() if "per_class" not in k else self.num_classes).float()
                for k in self.scores
            }
            return {**zeros, "confusion": matrix}
        pairs = torch.arange(counts.numel(), device=counts.device)
        target = (pairs // self.num_classes).repeat_interleave(counts)
        preds = (pairs % self.num_classes).repeat_interleave(counts)
        self.scores.reset()
        self.scores.update(preds, target)
        return {**self.scores.compute(), "confusion": matrix}


class ScoreMetrics(Metric):
    """AUROC and average precision of class probabilities, exact (every score kept).

    Per step it appends the batch's probabilities: no host sync. Binary (`num_classes=2`): of
    class 1's probability. Multiclass: macro averages of one-vs-rest scores over the classes
    present in the targets (a class with no samples has no ROC curve). The scores and labels of
    the epoch are returned too (`scores`, `labels`), for a PR curve.
    """

    full_state_update = False

    def __init__(self, num_classes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.add_state("probs", [], dist_reduce_fx="cat")
        self.add_state("labels", [], dist_reduce_fx="cat")

    def update(self, probs: Tensor, labels: Tensor) -> None:
        """probs: (N,) probability of class 1 (binary) or (N, C) class probabilities."""
        self.probs.append(probs.float())
        self.labels.append(labels)

    def compute(self) -> dict[str, Tensor]:
        # lists of batches here; under DDP, already concatenated across processes
        probs = dim_zero_cat(self.probs) if len(self.probs) else torch.zeros(0, device=self.device)
        labels = (dim_zero_cat(self.labels) if len(self.labels) else probs.new_zeros(0)).long()
        if len(labels.unique()) < 2:  # nothing seen, or one class only: no ranking to score
            nan = torch.full((), float("nan"), device=self.device)
            return {
                "auroc": nan,
                "average_precision": nan.clone(),
                "scores": probs,
                "labels": labels,
            }
        if self.num_classes == 2:
            scorers, kw = (binary_auroc, binary_average_precision), {}
        else:
            scorers = (multiclass_auroc, multiclass_average_precision)
            kw = {"num_classes": self.num_classes, "average": None}
        values = {}
        for name, scorer in zip(("auroc", "average_precision"), scorers, strict=True):
            with warnings.catch_warnings():  # a class absent from the split is left out below
                warnings.filterwarnings("ignore", message=".*(positive|negative) samples")
                value = scorer(probs, labels, validate_args=False, **kw)
            if value.ndim:  # per class: the mean over classes that occur
                present = torch.bincount(labels, minlength=self.num_classes) > 0
                value = value[present].mean()
            values[name] = value
        return {**values, "scores": probs, "labels": labels}
