"""What a sweep optimises: the metric and direction, checked, and the number a job hands back."""

from __future__ import annotations

import math
from typing import Any

from omegaconf import DictConfig

from trainkit.errors import TrainkitError

# Metric names whose better direction is known, so a sweep that ranks them backwards is refused.
LOWER_IS_BETTER = {"loss", "mse", "mae"}
HIGHER_IS_BETTER = {"acc", "f1", "precision", "recall", "r2", "auroc", "average_precision"}


def sweep_target(cfg: DictConfig) -> tuple[str, str]:
    """(optimized_metric, optimized_mode), checked: min or max, and the right one for a metric
    whose direction is known."""
    metric = str(cfg.get("optimized_metric") or "val/loss")
    mode = str(cfg.get("optimized_mode") or "min")
    if mode not in ("min", "max"):
        raise TrainkitError(f"optimized_mode must be min or max, got {mode!r}.")
    name = metric.rsplit("/", 1)[-1]
    better = "min" if name in LOWER_IS_BETTER else "max" if name in HIGHER_IS_BETTER else mode
    if better != mode:
        word = "lower" if better == "min" else "higher"
        raise TrainkitError(
            f"{metric} is better when {word}, but optimized_mode={mode}: "
            f"add optimized_mode={better} to the command line."
        )
    return metric, mode


def worst_value(mode: str) -> float:
    """What every real result beats: +inf when minimising, -inf when maximising."""
    return -math.inf if mode == "max" else math.inf


def objective(summary: dict[str, Any] | None, metric: str, mode: str, strict: bool) -> float:
    """The optimised metric of a run, or the worst value when the run did not complete or the
    metric is not finite (Optuna 2.x ranks +-inf last; a NaN would fail the trial).

    `strict`: a completed run without the metric at all means a misspelt optimized_metric.
    """
    worst = worst_value(mode)
    if summary is None or summary.get("status") != "completed":
        return worst
    metrics = summary.get("metrics") or {}
    if strict and metrics and metric not in metrics:
        names = ", ".join(sorted(metrics))
        raise TrainkitError(f"optimized_metric={metric} is not a metric of this run: {names}.")
    value = metrics.get(metric)
    finite = isinstance(value, (int, float)) and math.isfinite(value)
    return float(value) if finite else worst
