"""Checks of what training showed: loss curves, predictions, outputs and gradients."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from trainkit.doctor.findings import Finding, finding, fmt

LR_FIX = "run with tune.lr_find=true to pick a learning rate from a short range test"


def check_flat(
    losses: Sequence[float],
    baseline_loss: float | None,
    lr: float,
    min_epochs: int,
    min_drop: float,
) -> Finding | None:
    """Training loss has not really decreased after `min_epochs` epochs: the mean of the last
    three epochs is barely below epoch 0, or never clearly below the trivial predictor's loss."""
    if len(losses) < min_epochs or not all(math.isfinite(v) for v in losses):
        return None
    first, recent = losses[0], sum(losses[-3:]) / len(losses[-3:])
    if recent > first:  # rising, not flat: check_diverging speaks to that
        return None
    drop = (first - recent) / max(abs(first), 1e-12)
    stuck = baseline_loss is not None and recent >= (1 - min_drop) * baseline_loss
    if drop >= min_drop and not stuck:
        return None
    seen = (
        f"Training loss stayed flat: {fmt(first)} in epoch 0, {fmt(recent)} over the last "
        f"epochs of {len(losses)} (only {drop:.1%} lower)"
    )
    if stuck:
        seen += f", no better than the trivial predictor's {fmt(baseline_loss)}"
    return finding(
        "loss_not_decreasing",
        seen + ".",
        "The weights are not learning: the learning rate may be far too small (or too large "
        "for the net to settle), the gradients may not reach the weights, or the inputs may "
        "carry no signal about the labels.",
        f"{_lr_advice(lr)}, or run with tune.lr_find=true; lower model.optimizer.weight_decay "
        "if it is large; then check that inputs and labels line up (debug=overfit must drive "
        "the loss near zero).",
        epoch=len(losses) - 1,
    )


def _lr_advice(lr: float) -> str:
    """Which way to move a learning rate that does not learn: towards the usual 1e-3."""
    if lr < 1e-4:
        return f"raise model.optimizer.lr from {fmt(lr)} to about 1e-3"
    if lr > 0.1:
        return f"lower model.optimizer.lr from {fmt(lr)} to about 1e-3"
    return f"try model.optimizer.lr at {fmt(lr * 10)} and {fmt(lr / 10)} (now {fmt(lr)})"


def check_diverging(
    losses: Sequence[float], first_batch: float | None, lr: float, factor: float
) -> Finding | None:
    """Training loss climbing far above where it started (the very first batch's loss)."""
    finite = [v for v in losses if math.isfinite(v)]
    start = first_batch if first_batch is not None and math.isfinite(first_batch) else None
    if start is None:
        if len(finite) < 2:
            return None
        start, finite = finite[0], finite[1:]
    if not finite:
        return None
    worst = max(finite)
    if worst <= factor * start:
        return None
    epoch = list(losses).index(worst)
    return finding(
        "loss_diverging",
        f"Training loss climbed from {fmt(start)} at the first step to {fmt(worst)} "
        f"(epoch {epoch} mean), {fmt(worst / max(start, 1e-12))}x where it started.",
        "Each step overshoots the minimum: the learning rate is too large for this loss surface.",
        f"lower model.optimizer.lr from {fmt(lr)} to about {fmt(lr / 10)}, or {LR_FIX}; "
        "trainer.gradient_clip_val=1.0 also caps single bad steps.",
        epoch=epoch,
    )


def check_overfitting(
    train: Sequence[float], val: Sequence[float], window: int, rise: float, train_drop: float
) -> Finding | None:
    """Validation loss up for `window` epochs past its minimum while training loss keeps falling."""
    n = min(len(train), len(val))
    if n < window + 2 or not all(math.isfinite(v) for v in [*train[:n], *val[:n]]):
        return None
    best = min(range(n), key=lambda i: val[i])
    if n - 1 - best < window:
        return None
    recent_val = sum(val[n - window : n]) / window
    recent_train = sum(train[n - window : n]) / window
    if recent_val < (1 + rise) * val[best] or recent_train > (1 - train_drop) * train[best]:
        return None
    return finding(
        "overfitting",
        f"Validation loss rose from {fmt(val[best])} (epoch {best}) to {fmt(recent_val)} "
        f"(mean of the last {window} epochs) while training loss fell from {fmt(train[best])} "
        f"to {fmt(recent_train)}.",
        "The model is memorising the training split instead of learning what carries over.",
        "keep callbacks.early_stopping on and test the best checkpoint (the default), and "
        "regularise: model.optimizer.weight_decay=1e-2, model.net.dropout=0.3, a smaller net, "
        "or more data / augmentation.",
        epoch=n - 1,
    )


def check_collapse(confusion: Tensor, max_share: float, min_excess: float) -> Finding | None:
    """One class predicted for (nearly) every validation sample, far more often than it occurs."""
    total = float(confusion.sum())
    if total == 0:
        return None
    predicted = confusion.sum(0).double() / total
    actual = confusion.sum(1).double() / total
    top = int(predicted.argmax())
    share = float(predicted[top])
    if share < max_share or share - float(actual[top]) < min_excess:
        return None
    return finding(
        "prediction_collapse",
        f"The classifier predicts class {top} for {share:.1%} of validation samples, "
        f"although only {float(actual[top]):.1%} of them belong to it.",
        "A collapsed model has learned the class prior, not the inputs: its accuracy is the "
        "majority share and the other classes are never found.",
        "check the learning rate (tune.lr_find=true), class weights for skewed labels "
        "(model.class_weights=balanced or model.pos_weight=balanced), and that the net returns "
        "logits without a final activation.",
    )


def check_probability_outputs(outputs: Tensor, single_logit: bool) -> Finding | None:
    """Net outputs already look like probabilities: all in [0, 1], or softmax rows summing to 1."""
    if outputs.numel() < 2 or not torch.isfinite(outputs).all():
        return None
    low, high = float(outputs.min()), float(outputs.max())
    in_unit = low >= 0.0 and high <= 1.0 and high - low > 1e-3  # a constant is no probability
    softmax_rows = (
        not single_logit
        and outputs.ndim == 2
        and low >= 0.0
        and bool(torch.allclose(outputs.sum(1), torch.ones(len(outputs)), atol=1e-3))
    )
    if not (in_unit or softmax_rows):
        return None
    what = (
        "rows that sum to 1 (softmax)" if softmax_rows else f"values in [{fmt(low)}, {fmt(high)}]"
    )
    loss = "BCEWithLogits" if single_logit else "cross-entropy"
    return finding(
        "probabilities_into_logits_loss",
        f"On validation samples the net outputs only {what}: probabilities, not logits.",
        f"The {loss} loss applies its own sigmoid/softmax, so it squashes twice: gradients shrink, "
        "training crawls, and predicted probabilities are wrong.",
        "remove the final sigmoid/softmax from the net (model.net) and return raw scores; "
        "trainkit derives probabilities once, after the loss.",
    )


def check_baseline(
    best: dict[str, float],
    baseline: dict[str, float],
    confusion: Tensor | None,
    margin: float,
    paradox_recall: float,
) -> Finding | None:
    """The best validation metric is no better than the trivial predictor's, or the accuracy
    looks fine while the rarest class is (almost) never recalled: the accuracy paradox."""
    if "val/acc" in best and "val/acc" in baseline:
        acc, base = best["val/acc"], baseline["val/acc"]
        if 1 - acc >= (1 - base) * (1 - margin):  # must cut the majority's error by `margin`
            return finding(
                "no_better_than_baseline",
                f"Best validation accuracy {acc:.3f} is no better than always predicting the "
                f"majority class ({base:.3f}).",
                "The model has not learned anything the class frequencies do not already give.",
                "check the learning rate (tune.lr_find=true) and that inputs and labels line up; "
                "for skewed labels use model.class_weights=balanced or model.pos_weight=balanced.",
            )
        if confusion is not None:
            support = confusion.sum(1).double()
            recall = confusion.diagonal().double() / support.clamp(min=1)
            present = (support > 0).nonzero().flatten()
            rare = int(present[support[present].argmin()])
            if float(recall[rare]) <= paradox_recall and len(present) > 1:
                share = float(support[rare] / support.sum())
                return finding(
                    "no_better_than_baseline",
                    f"Validation accuracy {acc:.3f} looks good, but the rarest class {rare} "
                    f"({share:.1%} of samples) has recall {float(recall[rare]):.2f}: the accuracy "
                    "paradox.",
                    "With skewed labels, accuracy rewards ignoring the rare class, which is "
                    "usually the one that matters.",
                    "model.class_weights=balanced (or model.pos_weight=balanced for one logit), "
                    "and monitor=val/f1 monitor_mode=max instead of val/loss.",
                )
        return None
    if "val/loss" in best and "val/loss" in baseline:
        loss, base = best["val/loss"], baseline["val/loss"]
        if loss >= base * (1 - margin):
            r2 = best.get("val/r2")
            extra = f" (val r2 {r2:.3f})" if r2 is not None else ""
            return finding(
                "no_better_than_baseline",
                f"Best validation loss {fmt(loss)}{extra} is no better than predicting the "
                f"training mean ({fmt(base)}).",
                "The model explains none of the target's variation beyond its average.",
                "check the learning rate (tune.lr_find=true), that the inputs carry signal about "
                "the target, data.standardize=true and data.standardize_target=true.",
            )
    return None


def check_gradients(
    norms: Sequence[float],
    dead_share: float,
    depth_ratio: float,
    lr: float,
    explode: float,
    growth: float,
    vanish: float,
    max_dead_share: float,
    vanish_depth: float,
) -> Finding | None:
    """Gradient norms that are huge or growing without bound, or that vanish: (near) zero
    overall, absent from most weights, or fading from the last layer back to the first."""
    norms = [v for v in norms if math.isfinite(v)]  # a NaN step is non_finite_loss's to report
    if not norms:
        return None
    third = max(1, len(norms) // 3)
    head = sorted(norms[:third])[third // 2]
    tail_values = norms[-third:]
    tail = sorted(tail_values)[len(tail_values) // 2]
    if tail > explode or (head > 0 and tail / head > growth and tail > 1.0):
        return finding(
            "exploding_gradients",
            f"The gradient norm grew from a median of {fmt(head)} early on to {fmt(tail)} late "
            f"(peak {fmt(max(norms))}).",
            "Huge gradients throw the weights far from where they were: the loss jumps or "
            "becomes NaN.",
            f"trainer.gradient_clip_val=1.0, and lower model.optimizer.lr from {fmt(lr)} "
            f"to about {fmt(lr / 10)}; check data.standardize=true.",
        )
    if dead_share >= max_dead_share:
        seen = (
            f"{dead_share:.0%} of the trainable weights never received a gradient within a "
            "millionth of the largest layer's"
        )
    elif depth_ratio < vanish_depth:
        seen = (
            f"The first layer's largest gradient is {fmt(depth_ratio)} times the last layer's: "
            "the gradient fades on its way back through the net"
        )
    elif tail < vanish:
        seen = f"The gradient norm is (near) zero: median {fmt(tail)} late in training"
    else:
        return None
    return finding(
        "vanishing_gradients",
        f"{seen}.",
        "Weights without gradient never change: dead ReLUs, saturated sigmoids/tanh, a "
        "detached graph or frozen layers leave the model unable to learn.",
        "check the net's activations and initialisation (e.g. ReLU biases far below zero, "
        "sigmoid/tanh stacks: use ReLU), remove .detach() or torch.no_grad() from forward, make "
        "sure every layer has requires_grad=True, and try fewer layers or normalisation layers.",
    )


def check_overfit_debug(train: list[float], target: float, lr: float) -> Finding | None:
    """In debug=overfit the training loss must fall below `target` times its first value."""
    if not train or min(train) <= target * train[0]:
        return None
    return finding(
        "loss_not_decreasing",
        f"debug=overfit: the training loss on a few fixed batches only fell from {fmt(train[0])} "
        f"to {fmt(min(train))} in {len(train)} epochs, not below {target:.0%} of where it began.",
        "A model that cannot memorise a handful of samples has a bug or too little capacity: "
        "wrong labels, a detached graph, a learning rate off by orders of magnitude, a net too "
        "small (a linear model cannot memorise every sample).",
        f"simplify until it learns: try model.optimizer.lr at {fmt(lr * 10)} and {fmt(lr / 10)} "
        f"(now {fmt(lr)}), drop regularisation (model.optimizer.weight_decay=0, dropout 0), "
        "check the labels.",
    )
