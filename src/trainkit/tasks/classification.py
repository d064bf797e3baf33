"""Binary (one logit, BCE with logits) and multiclass (cross-entropy) classification."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainkit.errors import TrainkitError
from trainkit.tasks.base import Task
from trainkit.tasks.meters import ConfusionMetrics, ScoreMetrics


class ClassificationTask(Task):
    """Classifier around a net that returns logits.

    Binary (num_classes=2): the net may return one logit, (N,) or (N, 1), trained with
    BCE-with-logits, or two logits trained with cross-entropy. Precision, recall and F1 are those
    of class 1. Multiclass: cross-entropy on (N, C) logits; precision, recall and F1 are macro
    averages, accuracy is plain micro accuracy.

    Validation and test also score the class probabilities: `auroc` and `average_precision`
    (binary: of class 1; multiclass: macro one-vs-rest). Each stage keeps its last confusion
    matrix and per-class precision, recall and F1 in `epoch_details`, and val/test their
    probabilities and labels (for a PR curve).
    """

    METRIC_NAMES = ("loss", "acc", "f1", "precision", "recall", "auroc", "average_precision")
    # the probabilities are scored on these stages only: no train/auroc
    SCORED_STAGES = ("val", "test")
    EVAL_ONLY_METRICS = ("auroc", "average_precision")

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        num_classes: int,
        scheduler: Callable[..., Any] | None = None,
        monitor: str = "val/loss",
        class_weights: Sequence[float] | str | None = None,
        pos_weight: float | str | None = None,
        channels_last: bool = False,
    ) -> None:
        if not isinstance(num_classes, int) or num_classes < 2:
            raise TrainkitError(
                f"model.num_classes must be an integer >= 2, got {num_classes!r} (it comes from "
                "data.num_classes: set data.num_classes=C for your data set)."
            )
        self.num_classes = num_classes
        super().__init__(net, optimizer, scheduler, monitor, channels_last)
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
        self.scores: dict[str, ScoreMetrics] = {}
        for stage in self.SCORED_STAGES:
            self.scores[stage] = ScoreMetrics(num_classes)
            self.meters[f"{stage}_scores"] = self.scores[stage]

    @property
    def binary(self) -> bool:
        return self.num_classes == 2

    def build_metrics(self) -> ConfusionMetrics:
        # Fed our own hard predictions: torchmetrics never has to guess whether it sees logits.
        return ConfusionMetrics(self.num_classes)

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

    def batch_loss(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor | int]:
        if y.dtype != torch.long or y.ndim != 1:
            raise TrainkitError(
                "Classification targets must be class indices: a LongTensor of shape (N,); got "
                f"{str(y.dtype).replace('torch.', '')} of shape {tuple(y.shape)}."
            )
        weights = self.class_weights
        if weights is not None and weights.dtype != out.dtype:
            weights = weights.to(out.dtype)
        if self._single_logit(out):
            logit = out.reshape(-1)
            if weights is None:
                loss = F.binary_cross_entropy_with_logits(
                    logit, y.to(logit.dtype), pos_weight=self.pos_weight
                )
                return loss, y.shape[0]
            w = weights[y]
            losses = F.binary_cross_entropy_with_logits(
                logit, y.to(logit.dtype), pos_weight=self.pos_weight, reduction="none"
            )
            total = w.sum()
            return (losses * w).sum() / total, total
        if self.pos_weight is not None:
            raise TrainkitError(
                "model.pos_weight applies to a single-logit binary net, but this net returns "
                "two logits; use model.class_weights instead."
            )
        # With class weights, torch's mean is already sum(w_y * l) / sum(w_y).
        loss = F.cross_entropy(out, y, weight=weights)
        return loss, y.shape[0] if weights is None else weights[y].sum()

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

    def update_metrics(self, stage: str, out: Tensor, y: Tensor) -> None:
        super().update_metrics(stage, out, y)
        if stage in self.scores:
            probs = self.probabilities(out)
            self.scores[stage].update(probs[:, 1] if self.binary else probs, y)

    def compute_epoch(self, stage: str) -> dict[str, Tensor]:
        values = super().compute_epoch(stage)
        details = {"confusion": values.pop(f"{stage}/confusion").cpu()}
        for metric in ("precision", "recall", "f1"):
            details[metric] = values.pop(f"{stage}/{metric}_per_class").cpu()
        if stage in self.scores:
            scored = self.scores[stage].compute()
            details["scores"], details["labels"] = scored.pop("scores"), scored.pop("labels")
            values.update({f"{stage}/{k}": v for k, v in scored.items()})
        self.epoch_details[stage] = details
        return values

    def reset_epoch(self, stage: str) -> None:
        super().reset_epoch(stage)
        if stage in self.scores:
            self.scores[stage].reset()

    def detail_scalars(self, stage: str) -> dict[str, float]:
        """Per-class precision, recall and F1, as `{stage}_by_class/{metric}/{class name}`."""
        details = self.epoch_details.get(stage, {})
        names = class_names(self.trainer, self.num_classes)
        return {
            f"{stage}_by_class/{metric}/{name}": float(value)
            for metric in ("precision", "recall", "f1")
            if metric in details
            for name, value in zip(names, details[metric].tolist(), strict=True)
        }

    def constant_output(self, train_targets: Tensor, n: int) -> Tensor:
        counts = torch.bincount(train_targets, minlength=self.num_classes).double()
        prior = (counts / counts.sum()).clamp(1e-7, 1 - 1e-7)
        if self.binary:  # one logit: log-odds of class 1
            return torch.full((n, 1), float(torch.log(prior[1] / prior[0])))
        return torch.log(prior).float().expand(n, -1)


def class_names(trainer: Any, num_classes: int) -> list[str]:
    """The data module's class names (tag-safe), or "0".."C-1"."""
    datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
    names = [str(n) for n in (getattr(datamodule, "class_names", None) or [])]
    if len(names) != num_classes:
        return [str(i) for i in range(num_classes)]
    return [" ".join(n.replace("/", "-").split()) or str(i) for i, n in enumerate(names)]


def _weights_tensor(spec: Sequence[float] | float | str | None) -> Tensor | None:
    if spec is None or isinstance(spec, str):
        if spec not in (None, "balanced"):
            raise TrainkitError(f"Class weights must be numbers or 'balanced', got '{spec}'.")
        return None
    return torch.as_tensor(spec, dtype=torch.float32).reshape(-1)
