"""Keep every epoch's validation metrics, so the summary can report the best epoch exactly."""

from __future__ import annotations

import math
from typing import Any

import lightning as L


class MetricHistory(L.Callback):
    """Records `val/*` values after each (non sanity-check) validation epoch."""

    def __init__(self, monitor: str = "val/loss", mode: str = "min") -> None:
        self.monitor, self.mode = monitor, mode
        self.epochs: list[dict[str, Any]] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        values = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        self.epochs.append({"epoch": trainer.current_epoch, **values})

    def best(self) -> dict[str, Any] | None:
        """The first epoch with the best finite monitored value; ties keep the earlier one."""
        best: dict[str, Any] | None = None
        for record in self.epochs:
            value = record.get(self.monitor)
            if value is None or not math.isfinite(value):
                continue
            if best is None or (
                value < best[self.monitor] if self.mode == "min" else value > best[self.monitor]
            ):
                best = record
        return best

    def forget_before(self, epoch: int) -> None:
        """Judge only epochs from `epoch` on (their weights are the only ones left to test)."""
        self.epochs = [r for r in self.epochs if r["epoch"] >= epoch]

    def state_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epochs = list(state_dict.get("epochs", []))
