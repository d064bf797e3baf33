"""A finding: a diagnostic code with a message in plain words (what, why, what to try)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SEVERITY = {
    "labels_out_of_range": "error",
    "non_finite_loss": "error",
    "loss_not_decreasing": "warning",
    "loss_diverging": "warning",
    "prediction_collapse": "warning",
    "no_better_than_baseline": "warning",
    "overfitting": "warning",
    "probabilities_into_logits_loss": "warning",
    "class_imbalance": "info",
    "unscaled_inputs": "warning",
    "exploding_gradients": "warning",
    "vanishing_gradients": "warning",
    "train_eval_overlap": "warning",
}


@dataclass
class Finding:
    """One diagnosis; `message` says what was seen (with numbers), why it matters, what to try."""

    code: str
    message: str
    epoch: int | None = None

    @property
    def severity(self) -> str:
        return SEVERITY[self.code]

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "epoch": self.epoch,
            "message": self.message,
        }


def finding(code: str, seen: str, why: str, fix: str, epoch: int | None = None) -> Finding:
    """Compose the message from its three parts."""
    return Finding(code, f"{seen} {why} Try: {fix}", epoch)


def fmt(value: float) -> str:
    """A number as people read it (and as an override takes it): 4 significant digits."""
    return f"{value:.4g}"
