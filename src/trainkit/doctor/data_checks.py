"""Checks of the data before the first step: labels, balance, scale, leakage."""

from __future__ import annotations

import torch
from torch import Tensor

from trainkit.data.values import label_fix
from trainkit.doctor.findings import Finding, finding, fmt


def check_data(
    data: dict[str, tuple[Tensor, Tensor]],
    num_classes: int | None,
    t: dict,
    weighted: bool,
    single_logit: bool,
) -> list[Finding]:
    """The checks before the first step, on each split's (x, y), in order (labels first: they
    stop the run); `t` holds the doctor's thresholds."""
    found: list[Finding | None] = []
    if num_classes:
        found.append(check_labels({s: y for s, (_, y) in data.items()}, num_classes))
        if "train" in data:
            y = data["train"][1]
            found.append(
                check_imbalance(y, num_classes, t["imbalance_ratio"], weighted, single_logit)
            )
    if "train" in data:
        x = data["train"][0]
        if x.is_floating_point():
            found.append(
                check_scaling(x, t["scale_mean_tol"], t["scale_std_low"], t["scale_std_high"])
            )
        others = {s: d[0] for s, d in data.items() if s != "train"}
        found.append(check_overlap(x, others, t["overlap_max_rows"]))
    return [f for f in found if f is not None]


def check_labels(targets: dict[str, Tensor], num_classes: int) -> Finding | None:
    """Every class label must lie in [0, num_classes); the fix depends on what the labels are."""
    bad = {}
    for split, y in targets.items():
        outside = (y < 0) | (y >= num_classes)
        if outside.any():
            bad[split] = (int(outside.sum()), int(y.min()), int(y.max()))
    if not bad:
        return None
    where = "; ".join(
        f"{s}: {n} {'label' if n == 1 else 'labels'} out of range, labels span {lo}..{hi}"
        for s, (n, lo, hi) in bad.items()
    )
    seen = torch.unique(torch.cat([y.reshape(-1) for y in targets.values()])).tolist()
    shown = ", ".join(map(str, seen[:8])) + (f", ... ({len(seen)} in all)" if len(seen) > 8 else "")
    relabel = label_fix(seen, num_classes)
    fixes: list[dict] = []
    if relabel is None:  # labels 0..top: the net has too few classes for them
        top = seen[-1]
        advice = (
            f"Give the data {top + 1} classes (model.num_classes and the net's output size "
            f"follow data.num_classes unless overridden; a one-logit binary net must become a "
            f"classifier with {top + 1} outputs), or map the labels to 0..{num_classes - 1} in "
            "the data module."
        )
        fixes = [{"data.num_classes": top + 1}]
        no_fix = ""
    else:
        classes = len(seen)
        more = (
            f", and give the data {classes} classes (data.num_classes={classes})"
            if classes > num_classes
            else ""
        )
        advice = ""
        no_fix = f"{relabel} in the data module, so that they are 0..{classes - 1}{more}."
    return finding(
        "labels_out_of_range",
        f"Labels outside [0, {num_classes}) ({where}; labels seen: {shown}).",
        "The loss would index past the net's outputs: cross-entropy crashes, BCE trains on "
        "nonsense.",
        advice,
        fixes,
        no_fix,
    )


def imbalance_ratio(train_targets: Tensor, num_classes: int) -> float | None:
    """Majority/minority count ratio of the classes present (None with fewer than two)."""
    counts = torch.bincount(train_targets.long().clamp(min=0), minlength=num_classes).double()
    present = counts[counts > 0]
    return float(present.max() / present.min()) if len(present) >= 2 else None


def check_imbalance(
    train_targets: Tensor,
    num_classes: int,
    max_ratio: float,
    weighted: bool = False,
    single_logit: bool = True,
) -> Finding | None:
    """Majority/minority count ratio above `max_ratio` (90/10 is 9; 63/37 is 1.7), with a loss
    that does not weight the classes (weights are what answers skewed labels)."""
    ratio = imbalance_ratio(train_targets, num_classes)
    if ratio is None or weighted or ratio < max_ratio:
        return None
    counts = torch.bincount(train_targets.long().clamp(min=0), minlength=num_classes).double()
    shares = ", ".join(f"{i}: {c / counts.sum():.1%}" for i, c in enumerate(counts.tolist()))
    # one logit takes a positive class's weight; (N, C) logits take one weight per class
    key = "model.pos_weight" if num_classes == 2 and single_logit else "model.class_weights"
    return finding(
        "class_imbalance",
        f"Training labels are skewed {ratio:.1f}:1 (class shares {shares}).",
        "Accuracy can look high while the rare class is never found.",
        "Judge the run by recall and F1 of the rare class, not accuracy.",
        [{key: "balanced"}],
    )


def check_scaling(x: Tensor, mean_tol: float, std_low: float, std_high: float) -> Finding | None:
    """Input features far from zero mean and unit scale."""
    flat = x.reshape(len(x), -1).double()
    mean, std = flat.mean(0), flat.std(0, unbiased=False)
    varying = std > 0
    if not varying.any():
        return None
    worst_mean = float(mean[varying].abs().max())
    largest, typical = float(std[varying].max()), float(std[varying].median())
    if worst_mean <= mean_tol and largest <= std_high and typical >= std_low:
        return None
    return finding(
        "unscaled_inputs",
        f"Input features are far from zero mean and unit scale: largest |mean| {fmt(worst_mean)}, "
        f"largest std {fmt(largest)}, median std {fmt(typical)}.",
        "Features on very different scales make one learning rate too big for some weights and "
        "too small for others, so training is slow or unstable.",
        "Standardising uses statistics of the training split only; or scale the features in "
        "your data module.",
        [{"data.standardize": True}],
    )


def _row_hashes(x: Tensor, max_rows: int, seed: int) -> set[int]:
    rows = x.reshape(len(x), -1).contiguous()
    if len(rows) > max_rows:
        pick = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))[:max_rows]
        rows = rows[pick]
    data = rows.cpu().numpy()
    return {hash(row.tobytes()) for row in data}


def check_overlap(
    train_x: Tensor, others: dict[str, Tensor], max_rows: int, seed: int = 0
) -> Finding | None:
    """Identical samples in train and val/test, found by hashing rows (sampled when large)."""
    train = _row_hashes(train_x, max_rows, seed)
    shared = {}
    for split, x in others.items():
        hashes = _row_hashes(x, max_rows, seed)
        n = len(hashes & train)
        if n:
            shared[split] = (n, len(hashes))
    if not shared:
        return None
    seen = "; ".join(f"{n} of {total} {s} samples" for s, (n, total) in shared.items())
    return finding(
        "train_eval_overlap",
        f"Identical samples appear in the training split and in evaluation: {seen}.",
        "The model is scored on samples it trained on, so validation and test metrics are too "
        "optimistic (leakage).",
        no_fix="remove duplicate rows before splitting (e.g. drop_duplicates), or split by a "
        "group key so copies stay together.",
    )


def check_trainable(model: torch.nn.Module) -> Finding | None:
    """A model none of whose weights takes a gradient cannot train at all."""
    if any(p.requires_grad for p in model.parameters()):
        return None
    return finding(
        "vanishing_gradients",
        "No weight of the model takes a gradient: every parameter has requires_grad=False, so "
        "training cannot change anything.",
        "A frozen net (e.g. a pretrained one loaded with everything frozen) needs at least its "
        "head to train.",
        no_fix="set requires_grad=True on the layers to train (at least the last one).",
    )
