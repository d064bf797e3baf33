"""Binary (one logit, BCE with logits) and multiclass (cross-entropy) classification."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryConfusionMatrix,
    BinaryF1Score,
    BinaryPrecision,
    BinaryRecall,
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from trainkit.errors import TrainkitError
from trainkit.tasks.base import Task

EVAL_STAGES = ("val", "test")


class ClassificationTask(Task):
    """Classifier around a net that returns logits.

    Binary (num_classes=2): the net may return one logit, (N,) or (N, 1), trained with
    BCE-with-logits, or two logits trained with cross-entropy. Precision, recall and F1 are those
    of class 1. Multiclass: cross-entropy on (N, C) logits; precision, recall and F1 are macro
    averages, accuracy is plain micro accuracy.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        num_classes: int,
        scheduler: Callable[..., Any] | None = None,
        monitor: str = "val/loss",
        class_weights: Sequence[float] | str | None = None,
        pos_weight: float | str | None = None,
    ) -> None:
        if not isinstance(num_classes, int) or num_classes < 2:
            raise TrainkitError(
                f"model.num_classes must be an integer >= 2, got {num_classes!r} (it comes from "
                "data.num_classes: set data.num_classes=C for your data set)."
            )
        self.num_classes = num_classes
        super().__init__(net, optimizer, scheduler, monitor)
        self.class_weights_spec = class_weights
        self.pos_weight_spec = pos_weight
        weights = _weights_tensor(class_weights)
        if weights is not None and len(weights) != num_classes:
            raise TrainkitError(
                f"model.class_weights has {len(weights)} entries but the task has "
                f"{num_classes} classes; give one weight per class or 'balanced'."
            )
        self.register_buffer("class_weights", weights, persistent=False)
        self.register_buffer("pos_weight", _weights_tensor(pos_weight), persistent=False)
        matrix = BinaryConfusionMatrix if self.binary else MulticlassConfusionMatrix
        kwargs: dict[str, Any] = {"validate_args": False}
        if not self.binary:
            kwargs["num_classes"] = num_classes
        self.confusion: dict[str, nn.Module] = {}
        for stage in EVAL_STAGES:
            self.confusion[stage] = matrix(**kwargs)
            self.meters[f"{stage}_confusion"] = self.confusion[stage]
        self.confusion_results: dict[str, Tensor] = {}

    @property
    def binary(self) -> bool:
        return self.num_classes == 2

    def build_metrics(self) -> MetricCollection:
        # The inputs are our own hard predictions and checked labels, so torchmetrics' argument
        # validation (a torch.unique per step: a host sync on GPU) is switched off.
        if self.binary:
            kw: dict[str, Any] = {"validate_args": False}
            metrics = {
                "acc": BinaryAccuracy(**kw),
                "precision": BinaryPrecision(**kw),
                "recall": BinaryRecall(**kw),
                "f1": BinaryF1Score(**kw),
            }
        else:
            kw = {"num_classes": self.num_classes, "validate_args": False}
            metrics = {
                "acc": MulticlassAccuracy(average="micro", **kw),
                "precision": MulticlassPrecision(average="macro", **kw),
                "recall": MulticlassRecall(average="macro", **kw),
                "f1": MulticlassF1Score(average="macro", **kw),
            }
        return MetricCollection(metrics)

    # -- class weights from the training labels ------------------------------------------------
    def setup(self, stage: str) -> None:
        if "balanced" not in (self.class_weights_spec, self.pos_weight_spec):
            return
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is None or not hasattr(datamodule, "targets"):
            raise TrainkitError(
                "class weights 'balanced' need a data module with a targets(split) method; "
                "give explicit weights instead, e.g. model.class_weights=[1.0,3.0]."
            )
        counts = torch.bincount(datamodule.targets("train"), minlength=self.num_classes).double()
        counts = counts.clamp(min=1)
        if self.class_weights_spec == "balanced":
            self.class_weights = (counts.sum() / (self.num_classes * counts)).float()
        if self.pos_weight_spec == "balanced":
            self.pos_weight = (counts[0] / counts[1]).float().reshape(1)

    # -- logits -> loss, probabilities, classes: derived here and nowhere else --------------------
    def _single_logit(self, out: Tensor) -> bool:
        """True for (N,) or (N, 1) output, the binary one-logit form; checks every other shape."""
        if self.binary and (out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1)):
            return True
        if out.ndim == 2 and out.shape[1] == self.num_classes:
            return False
        expected = "(N,), (N, 1) or (N, 2)" if self.binary else f"(N, {self.num_classes})"
        raise TrainkitError(
            f"The net returns shape {tuple(out.shape)} but a {self.num_classes}-class task needs "
            f"logits of shape {expected}; make the net's last layer output {self.num_classes} "
            f"values{' (or 1 for binary)' if self.binary else ''}."
        )

    def per_sample_loss(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor | None]:
        if y.dtype != torch.long or y.ndim != 1:
            raise TrainkitError(
                "Classification targets must be class indices: a LongTensor of shape (N,); got "
                f"{str(y.dtype).replace('torch.', '')} of shape {tuple(y.shape)}."
            )
        if self._single_logit(out):
            logit = out.reshape(-1)
            losses = F.binary_cross_entropy_with_logits(
                logit, y.to(logit.dtype), pos_weight=self.pos_weight, reduction="none"
            )
        else:
            if self.pos_weight is not None:
                raise TrainkitError(
                    "model.pos_weight applies to a single-logit binary net, but this net returns "
                    "two logits; use model.class_weights instead."
                )
            losses = F.cross_entropy(out, y, reduction="none")
        weights = None if self.class_weights is None else self.class_weights[y]
        return losses, weights

    def probabilities(self, out: Tensor) -> Tensor:
        """Class probabilities (N, C) from logits."""
        if self._single_logit(out):
            p1 = torch.sigmoid(out.reshape(-1))
            return torch.stack([1 - p1, p1], dim=1)
        return torch.softmax(out, dim=1)

    def predict_classes(self, out: Tensor) -> Tensor:
        """Predicted class indices (N,): logit > 0 for one logit, argmax otherwise."""
        if self._single_logit(out):
            return (out.reshape(-1) > 0).long()
        return out.argmax(dim=1)

    def metric_inputs(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        # Hard class predictions: torchmetrics never has to guess whether it sees logits.
        return self.predict_classes(out), y

    def after_step(self, stage: str, preds: Tensor, target: Tensor) -> None:
        if stage in self.confusion:
            self.confusion[stage].update(preds, target)

    def finish_epoch(self, stage: str) -> None:
        if stage in self.confusion:
            if not self.trainer.sanity_checking:
                self.confusion_results[stage] = self.confusion[stage].compute().cpu()
            self.confusion[stage].reset()
        super().finish_epoch(stage)

    def constant_output(self, train_targets: Tensor, n: int) -> Tensor:
        counts = torch.bincount(train_targets, minlength=self.num_classes).double()
        prior = (counts / counts.sum()).clamp(1e-7, 1 - 1e-7)
        if self.binary:  # one logit: log-odds of class 1
            return torch.full((n, 1), float(torch.log(prior[1] / prior[0])))
        return torch.log(prior).float().expand(n, -1)


def _weights_tensor(spec: Sequence[float] | float | str | None) -> Tensor | None:
    if spec is None or isinstance(spec, str):
        if spec not in (None, "balanced"):
            raise TrainkitError(f"Class weights must be numbers or 'balanced', got '{spec}'.")
        return None
    return torch.as_tensor(spec, dtype=torch.float32).reshape(-1)
