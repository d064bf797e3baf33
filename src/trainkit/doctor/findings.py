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


def print_findings(findings: list[Finding]) -> None:
    """The doctor's findings on the console, most severe first."""
    from rich.console import Console

    console = Console()
    if not findings:
        console.print("[green]Training doctor: no findings.[/green]")
        return
    order = {"error": 0, "warning": 1, "info": 2}
    colour = {"error": "red", "warning": "yellow", "info": "cyan"}
    console.print("[bold]Training doctor:[/bold]")
    for f in sorted(findings, key=lambda f: order[f.severity]):
        console.print(
            f"[{colour[f.severity]}]{f.severity} {f.code}[/]: {f.message}", highlight=False
        )
