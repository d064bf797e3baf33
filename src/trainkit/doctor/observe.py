"""What the doctor reads from a run: split data, the best epoch, baseline, outputs, gradients."""

from __future__ import annotations

import inspect
import math
import statistics
from dataclasses import dataclass
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


def monitored(trainer: L.Trainer) -> tuple[str, str]:
    """The metric the best checkpoint is chosen by, and whether lower or higher is better."""
    checkpoint = trainer.checkpoint_callback
    if checkpoint is not None and getattr(checkpoint, "monitor", None):
        return checkpoint.monitor, checkpoint.mode
    return "val/loss", "min"


def best_record(history: list[dict[str, Any]], trainer: L.Trainer) -> dict[str, Any] | None:
    """The validation record of the best epoch by the monitored metric."""
    monitor, mode = monitored(trainer)
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
    params = [p for p in pl_module.parameters() if p.is_floating_point()]
    if params:  # the net's own device and precision (a bf16-true net takes bf16 inputs)
        inputs = inputs.to(params[0].device)
        inputs = inputs.to(params[0].dtype) if inputs.is_floating_point() else inputs
    try:
        out = pl_module(inputs)
        return out.detach().float().cpu() if isinstance(out, Tensor) else None
    except Exception:  # a look at the outputs must never fail the run
        return None
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


# The learning rate each optimiser usually trains well at (its docs' and common practice's
# default); a rate far from it is the first suspect when a loss will not move or blows up.
USUAL_LR = {
    "SGD": 0.01, "Adam": 1e-3, "AdamW": 1e-3, "NAdam": 2e-3, "RAdam": 1e-3, "Adamax": 2e-3,
    "RMSprop": 1e-3, "Adagrad": 1e-2, "Adadelta": 1.0, "LBFGS": 1.0, "SparseAdam": 1e-3,
}  # fmt: skip


@dataclass
class RunFacts:
    """What the checks judge a run's numbers against: its optimiser and its scales."""

    lr: float = float("nan")
    optimizer: str = "the optimiser"
    usual_lr: float = 1e-3
    weight_decay: float = 0.0
    scale: float | None = None  # the trivial predictor's validation loss: the loss's scale
    moved: float | None = None  # how far the weights moved over training, relative to their size
    clip: float | None = None  # the gradient norm steps are clipped to, if any
    grad_median: float | None = None  # median measured gradient norm (before clipping)
    init_scale: float | None = None  # weights at the start next to a standard initialisation
    weighted: bool = False  # the loss weights classes
    imbalanced: bool = False  # training labels skewed past the doctor's imbalance ratio
    single_logit: bool = False  # a binary net with one output
    unscaled_inputs: bool = False  # the input check found features far from unit scale
    train_beat_baseline: bool = False  # the training loss got clearly below the trivial one
    stopped_early: bool = False  # early stopping ended training
    learned: bool = False  # the validation predictions beat chance (classifiers)
    train_loss: float | None = None  # the mean training loss of the last epochs
    squashed: bool = False  # the net's outputs are probabilities fed to a logits loss
    regression: bool = False  # the loss is a squared error: gradients scale with its root


def optimizer_facts(trainer: L.Trainer) -> dict[str, Any]:
    """The first optimiser's name, usual learning rate and weight decay."""
    if not trainer.optimizers:
        return {}
    optimizer = trainer.optimizers[0]
    name = type(optimizer).__name__
    usual = USUAL_LR.get(name)
    if usual is None:
        default = inspect.signature(type(optimizer).__init__).parameters.get("lr")
        usual = default.default if default and isinstance(default.default, float) else 1e-3
    group = optimizer.param_groups[0]
    return {
        "optimizer": name,
        "usual_lr": usual,
        "weight_decay": float(group.get("weight_decay", 0)),
    }


def gradient_clip(trainer: L.Trainer) -> float | None:
    """The norm each step's gradient is clipped to (None when steps are not clipped by norm)."""
    value = getattr(trainer, "gradient_clip_val", None)
    algorithm = str(getattr(trainer, "gradient_clip_algorithm", "norm") or "norm")
    if not value or "norm" not in algorithm:
        return None
    return float(value)


MAX_SNAPSHOT = 1 << 22  # weight values kept (on the CPU) to measure how far the weights move


def weight_snapshot(pl_module: L.LightningModule) -> list[Tensor]:
    """A CPU copy of the trainable weights: an evenly strided sample of at most MAX_SNAPSHOT
    values in all, once, at the start of fit."""
    params = [p for p in pl_module.parameters() if p.requires_grad]
    total = sum(p.numel() for p in params)
    stride = max(1, -(-total // MAX_SNAPSHOT))
    return [_sample(p, stride).cpu().clone() for p in params]  # a copy, never a view


def _sample(p: Tensor, stride: int) -> Tensor:
    return p.detach().reshape(-1)[::stride].float()


def weight_movement(pl_module: L.LightningModule, start: list[Tensor] | None) -> float | None:
    """||w_now - w_start|| / ||w_start|| over the sampled weights: how far training moved them."""
    params = [p for p in pl_module.parameters() if p.requires_grad]
    if not start or len(start) != len(params):
        return None
    total = sum(p.numel() for p in params)
    stride = max(1, -(-total // MAX_SNAPSHOT))
    with torch.no_grad():
        now = [_sample(p, stride).cpu() for p in params]
        if any(a.shape != b.shape for a, b in zip(now, start, strict=True)):
            return None
        moved = torch.cat([(a - b).reshape(-1) for a, b in zip(now, start, strict=True)])
        size = float(torch.linalg.vector_norm(torch.cat([b.reshape(-1) for b in start])))
        return float(torch.linalg.vector_norm(moved)) / max(size, 1e-12)


def init_scale(pl_module: L.LightningModule) -> float | None:
    """The median over weight matrices of rms x sqrt(fan_in): ~0.6-1.4 for PyTorch's, Kaiming's
    and Xavier's initialisations, far larger for weights scaled up by hand."""
    values = []
    for p in pl_module.parameters():
        if p.ndim >= 2 and p.numel() > 0:
            norm = float(torch.linalg.vector_norm(p.detach(), dtype=torch.float32))
            values.append(norm / math.sqrt(p.numel()) * math.sqrt(p[0].numel()))  # rms * fan_in
    return statistics.median(values) if values else None
