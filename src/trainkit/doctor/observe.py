"""What the doctor reads from a run: split data, the best epoch, baseline, outputs, gradients."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch import Tensor

SPLITS = ("train", "val", "test")


def split_data(datamodule: Any, max_rows: int) -> dict[str, tuple[Tensor, Tensor]]:
    """(x, y) of each split: the in-memory tensors, or up to `max_rows` rows from the loaders."""
    if datamodule is None:
        return {}
    splits = getattr(datamodule, "splits", None)
    if isinstance(splits, dict) and splits:
        return {s: splits[s] for s in SPLITS if s in splits}
    data = {}
    for split in SPLITS:
        loader_fn = getattr(datamodule, f"{split}_dataloader", None)
        try:
            batches, rows = [], 0
            for x, y in loader_fn():
                batches.append((x, y))
                rows += len(x)
                if rows >= max_rows:
                    break
        except Exception:  # a split the data module does not provide
            continue
        if batches:
            data[split] = (torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches]))
    return data


def best_record(history: list[dict[str, Any]], trainer: L.Trainer) -> dict[str, Any] | None:
    monitor = "val/loss"
    mode = "min"
    checkpoint = trainer.checkpoint_callback
    if checkpoint is not None and getattr(checkpoint, "monitor", None):
        monitor, mode = checkpoint.monitor, checkpoint.mode
    finite = [r for r in history if math.isfinite(r.get(monitor, float("nan")))]
    if not finite:
        return None
    pick = min if mode == "min" else max
    return pick(finite, key=lambda r: r[monitor])


def baseline_metrics(
    pl_module: Any, datamodule: Any, targets: dict[str, Tensor]
) -> dict[str, float]:
    """The trivial predictor's validation metrics, from the labels read before training."""
    if not hasattr(pl_module, "baseline_metrics"):
        return {}
    if hasattr(datamodule, "targets"):
        targets = {s: datamodule.targets(s) for s in ("train", "val")}
    if "train" not in targets or "val" not in targets:
        return {}
    with torch.no_grad():
        return pl_module.baseline_metrics(targets["train"], targets["val"], "val")


@torch.no_grad()
def sample_outputs(pl_module: L.LightningModule, inputs: Tensor | None) -> Tensor | None:
    """The net's raw outputs on the validation inputs kept at the start, in eval mode."""
    if inputs is None or len(inputs) == 0:
        return None
    was_training = pl_module.training
    pl_module.eval()
    try:
        return pl_module(inputs.to(pl_module.device)).detach().float().cpu()
    finally:
        pl_module.train(was_training)


def gradient_reach(pl_module: L.LightningModule, grad_max: Tensor | None) -> tuple[float, float]:
    """How far gradients reach: the share of trainable weights (by count) whose largest gradient
    stayed below a millionth of the largest tensor's, and first-over-last weight-matrix ratio."""
    if grad_max is None:
        return 0.0, 1.0
    params = [p for p in pl_module.parameters() if p.requires_grad]
    peaks = grad_max.detach().double().cpu()
    sizes = torch.tensor([p.numel() for p in params], dtype=torch.float64)
    top = float(peaks.max())
    if top == 0 or not math.isfinite(top):
        return (1.0 if top == 0 else 0.0), 1.0
    faint = (peaks <= 1e-6 * top).double()
    share = float((faint * sizes).sum() / sizes.sum())
    matrices = [i for i, p in enumerate(params) if p.ndim >= 2]
    depth = 1.0
    if len(matrices) >= 2 and float(peaks[matrices[-1]]) > 0:
        depth = float(peaks[matrices[0]] / peaks[matrices[-1]])
    return share, depth
