"""Checks of the loss curves: flat, diverging, overfitting; and the learning rates they advise."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from trainkit.doctor.findings import Finding, Fix, finding, fmt
from trainkit.doctor.observe import RunFacts

LR = "model.optimizer.lr"
# weights that moved less than this share of their size over a whole run did not train
STILL = 1e-3
# a regression loss (MSE of the trivial predictor: the target's variance) above this means a
# target in raw units far from the net's outputs of order one
RAW_TARGET_VARIANCE = 100.0


# a net's starting weights this many times a standard initialisation's (rms x sqrt(fan_in))
HUGE_INIT = 30.0
REINIT = (
    "initialise the net's weights with PyTorch's defaults (or nn.init.kaiming_uniform_) "
    "instead of scaling them up."
)


def huge_init(facts: RunFacts) -> str:
    """The words for weights initialised far too large, or "" when they were not."""
    if facts.init_scale is None or facts.init_scale <= HUGE_INIT:
        return ""
    return (
        f"The net's initial weights are {fmt(facts.init_scale / 0.6)} times the size of a "
        "standard initialisation"
    )


def lr_down(facts: RunFacts) -> float:
    """A learning rate that should stop a loss blowing up, in one run: the optimiser's usual
    rate when the run's is far above it, else a tenth of the run's."""
    if facts.lr > 3 * facts.usual_lr:
        return facts.usual_lr
    return facts.lr / 10


def lr_up(facts: RunFacts) -> float:
    """A learning rate that should make a still loss move: the usual rate, or ten times."""
    if facts.lr < facts.usual_lr / 3:
        return facts.usual_lr
    return facts.lr * 10


def _rate(facts: RunFacts) -> str:
    return f"{fmt(facts.lr)} ({facts.optimizer} usually trains at about {fmt(facts.usual_lr)})"


def check_flat(
    losses: Sequence[float],
    first_batch: float | None,
    facts: RunFacts,
    min_epochs: int,
    min_drop: float,
) -> Finding | None:
    """Training loss that has not really moved after `min_epochs` epochs (up or down) since
    epoch 0 nor since the first step, or that never got below the trivial predictor's loss."""
    if len(losses) < min_epochs or not all(math.isfinite(v) for v in losses):
        return None
    first, recent = losses[0], sum(losses[-3:]) / len(losses[-3:])
    change = (recent - first) / max(abs(first), 1e-12)
    # a loss that fell within epoch 0 (an easy task, many steps an epoch) did move
    fell_early = first_batch is not None and recent < (1 - 10 * min_drop) * first_batch
    flat = abs(change) < min_drop and not fell_early
    # the trivial predictor's loss is the bar, unless the predictions already beat chance
    stuck = facts.scale is not None and recent >= (1 - min_drop) * facts.scale and not facts.learned
    if not (flat or stuck) or change > min_drop:  # rising: check_diverging speaks to that
        return None
    if flat:
        seen = (
            f"Training loss did not move: {fmt(first)} in epoch 0, {fmt(recent)} over the last "
            f"epochs of {len(losses)} ({change:+.1%})"
        )
        if stuck:
            seen += f", no better than the trivial predictor's {fmt(facts.scale)}"
    else:
        seen = (
            f"Training loss fell from {fmt(first)} (epoch 0) to {fmt(recent)} over the last "
            f"epochs of {len(losses)}, but never below the trivial predictor's "
            f"{fmt(facts.scale)}"
        )
    why, fixes, no_fix = flat_cause(facts)
    return finding(
        "loss_not_decreasing",
        seen + ".",
        why,
        "Then check that inputs and labels line up: debug=overfit must drive the loss near zero.",
        fixes,
        no_fix,
        epoch=len(losses) - 1,
    )


def flat_cause(facts: RunFacts) -> tuple[str, list[Fix], str]:
    """Why a loss does not move, from what the run measured: the weights' movement, the
    clipping, the learning rate, their starting scale."""
    if facts.squashed:
        return (
            "The net's outputs are already probabilities (see probabilities_into_logits_loss): "
            "the loss squashes them a second time, so its gradients fade and it cannot fit.",
            [],
            "remove the final sigmoid/softmax from the net and return raw scores.",
        )
    if facts.regression and facts.scale is not None and facts.scale > RAW_TARGET_VARIANCE:
        return (
            f"The target varies by {fmt(math.sqrt(facts.scale))} around its mean while a fresh "
            "net outputs values of order one: most of training is spent reaching the target's "
            "scale, and the loss is dominated by it.",
            [{"data.standardize_target": True}],
            "",
        )
    moved = facts.moved
    still = moved is not None and moved < STILL
    how_far = f" (the weights moved {moved:.2g} of their size)" if moved is not None else ""
    clipped = facts.clip is not None and facts.grad_median is not None
    if clipped and facts.grad_median > 100 * facts.clip:
        return (
            f"Every gradient (median norm {fmt(facts.grad_median)}) is clipped to a norm of "
            f"{fmt(facts.clip)} (trainer.gradient_clip_val) before the step: the steps are "
            f"too small to get anywhere{how_far}.",
            [{"trainer.gradient_clip_val": 1.0}, {"trainer.gradient_clip_val": None}],
            "",
        )
    if huge_init(facts):
        return (
            f"{huge_init(facts)}: its outputs are so large that the steps cannot bring them back "
            "in any reasonable time.",
            [],
            REINIT,
        )
    if facts.lr < facts.usual_lr / 10:
        return (
            f"The learning rate {_rate(facts)} is too small to get anywhere{how_far}.",
            [{LR: lr_up(facts)}, {"tune.lr_find": True}],
            "",
        )
    if facts.lr > 10 * facts.usual_lr:
        return (
            f"The learning rate {_rate(facts)} is so large that each step overshoots and the "
            "loss bounces around one level.",
            [{LR: lr_down(facts)}, {"tune.lr_find": True}],
            "",
        )
    if facts.weight_decay >= 1.0:
        return (
            f"Weight decay {fmt(facts.weight_decay)} pulls every weight to zero faster than the "
            "loss can move it.",
            [{"model.optimizer.weight_decay": 0.01}],
            "",
        )
    if still:
        return (
            f"Nothing learned{how_far} at a usual learning rate: the gradient does not "
            "reach them (frozen or detached layers, dead units).",
            [],
            "make sure the net's layers have requires_grad=True and that forward() does not "
            "detach the output or run under torch.no_grad().",
        )
    return (
        "The weights moved, but the loss did not follow: the inputs may carry no signal about "
        "the labels, or the net cannot fit them.",
        [],
        "check that features and labels belong together (shuffled or random labels look like "
        "this) and that the net is large enough.",
    )


def check_diverging(
    losses: Sequence[float], first_batch: float | None, facts: RunFacts, factor: float
) -> Finding | None:
    """Training loss climbing far above where it started: `factor` times the very first step's
    loss and the trivial predictor's (a lucky small first batch is no starting point)."""
    finite = [v for v in losses if math.isfinite(v)]
    start = first_batch if first_batch is not None and math.isfinite(first_batch) else None
    if start is None:
        if len(finite) < 2:
            return None
        start, finite = finite[0], finite[1:]
    if not finite:
        return None
    worst = max(finite)
    if worst <= factor * max(start, facts.scale or 0.0):
        return None
    epoch = list(losses).index(worst)
    fixes: list[Fix] = [{"data.standardize": True}] if facts.unscaled_inputs else []
    if facts.lr > 3 * facts.usual_lr:
        why = f"Each step overshoots the minimum: the learning rate {_rate(facts)} is too large."
    else:
        why = (
            f"Each step overshoots the minimum at learning rate {_rate(facts)}: unscaled inputs "
            "or targets, or a net that amplifies them, make even a usual rate too large."
        )
    return finding(
        "loss_diverging",
        f"Training loss climbed from {fmt(start)} at the first step to {fmt(worst)} "
        f"(epoch {epoch} mean), {fmt(worst / max(start, 1e-12))}x where it started.",
        why,
        "Gradient clipping (trainer.gradient_clip_val=1.0) also caps single bad steps.",
        [
            *fixes,
            {LR: lr_down(facts)},
            {LR: lr_down(facts), "trainer.gradient_clip_val": 1.0},
        ],
        epoch=epoch,
    )


def check_overfitting(
    train: Sequence[float], val: Sequence[float], facts: RunFacts, window: int, rise: float,
    floor: float, train_drop: float, monitor_worse: bool,
) -> Finding | None:  # fmt: skip
    """Validation loss up for `window` epochs past its minimum, by `rise` of itself and `floor`
    of the loss's scale, while training loss kept falling and training went on (early stopping
    did not end it)."""
    n = min(len(train), len(val))
    if n < window + 2 or facts.stopped_early or not monitor_worse:
        return None
    if not all(math.isfinite(v) for v in [*train[:n], *val[:n]]):
        return None
    best = min(range(n), key=lambda i: val[i])
    if n - 1 - best < window:
        return None
    recent_val = sum(val[n - window : n]) / window
    recent_train = sum(train[n - window : n]) / window
    scale = facts.scale if facts.scale is not None else abs(val[0])
    gap = recent_val - val[best]
    still_learning = recent_train <= (1 - train_drop) * train[best]
    if gap < rise * val[best] or gap < floor * scale or not still_learning:
        return None
    return finding(
        "overfitting",
        f"Validation loss rose from {fmt(val[best])} (epoch {best}) to {fmt(recent_val)} "
        f"(mean of the last {window} epochs; the trivial predictor's is {fmt(scale)}) while "
        f"training loss fell from {fmt(train[best])} to {fmt(recent_train)}, and training went "
        f"on for {n - 1 - best} epochs past the best.",
        "The model is memorising the training split instead of learning what carries over; "
        "the test uses the best epoch's checkpoint, so the epochs after it are wasted.",
        "To generalise better, regularise: more weight decay or dropout, a smaller net, more "
        "data or augmentation.",
        [
            {"callbacks.early_stopping.patience": 2 * window},
            {"model.optimizer.weight_decay": max(facts.weight_decay * 10, 0.01)},
        ],
        epoch=n - 1,
    )


def check_overfit_debug(train: list[float], target: float, facts: RunFacts) -> Finding | None:
    """In debug=overfit the training loss must fall below `target` times its first value."""
    if not train or min(train) <= target * train[0]:
        return None
    why, fixes, no_fix = flat_cause(facts)
    return finding(
        "loss_not_decreasing",
        f"debug=overfit: the training loss on a few fixed batches only fell from {fmt(train[0])} "
        f"to {fmt(min(train))} in {len(train)} epochs, not below {target:.0%} of where it began.",
        "A model that cannot memorise a handful of samples has a bug or too little capacity. "
        + why,
        "Simplify until it learns: drop regularisation (weight decay and dropout 0), check the "
        "labels; a linear model cannot memorise every sample.",
        fixes,
        no_fix,
    )


def check_non_finite(
    seen: str, norms: list[float], losses: list[float], facts: RunFacts, epoch: int
) -> Finding:
    """A loss gone NaN/Inf (`seen` says where): blamed on the step size when something grew
    before it or the rate is high, on the net's arithmetic when the run was calm."""
    calm = (
        len(norms) >= 5
        and max(norms[-3:]) < 10 * statistics.median(norms)
        and (len(losses) < 2 or losses[-1] <= losses[0])
        and facts.lr <= 3 * facts.usual_lr
    )
    if calm:  # nothing grew before it: the arithmetic, not the step size
        fell = " the loss fell and" if len(losses) >= 2 else ""
        return finding(
            "non_finite_loss",
            f"{seen} Until then{fell} the gradient norm stayed steady (median "
            f"{fmt(statistics.median(norms))}).",
            "A NaN out of a calm run comes from the net's or the loss's own arithmetic: "
            "log(0), division by zero, sqrt of a negative, or a NaN in the data.",
            no_fix="find the operation that makes the NaN (torch.autograd.set_detect_anomaly"
            "(True) names it) and guard it, e.g. with a small epsilon.",
            epoch=epoch,
        )
    down = lr_down(facts)
    return finding(
        "non_finite_loss",
        seen,
        "Once a loss is NaN or Inf every later step is garbage. The steps were too large for "
        f"the loss surface: learning rate {_rate(facts)}.",
        "If a smaller rate does not cure it, look for log(0) and division by zero in the net, "
        "and for unscaled inputs.",
        [{LR: down, "trainer.gradient_clip_val": 1.0}, {LR: down}],
        epoch=epoch,
    )
