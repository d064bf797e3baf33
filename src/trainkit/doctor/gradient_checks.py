"""Checks of the gradients: huge next to the loss's scale, or vanishing on their way back."""

from __future__ import annotations

import math
from collections.abc import Sequence

from trainkit.doctor.findings import Finding, finding, fmt
from trainkit.doctor.observe import RunFacts
from trainkit.doctor.training_checks import LR, REINIT, huge_init, lr_down


def _share(value: float) -> str:
    """A share as a percentage that never rounds a part up to the whole (or down to nothing)."""
    text = f"{value:.0%}"
    if value < 1 and text == "100%":
        return ">99%"
    if value > 0 and text == "0%":
        return "<1%"
    return text


def check_gradients(
    norms: Sequence[float],
    dead_share: float,
    depth_ratio: float,
    facts: RunFacts,
    explode: float,
    growth: float,
    vanish: float,
    max_dead_share: float,
    vanish_depth: float,
) -> Finding | None:
    """Gradient norms huge next to the loss's own scale (`explode` times the trivial
    predictor's loss) or growing without bound; or vanishing: (near) zero overall, absent from
    most weights, or fading from the last layer back to the first."""
    norms = [v for v in norms if math.isfinite(v)]  # a NaN step is non_finite_loss's to report
    if not norms:
        return None
    third = max(1, len(norms) // 3)
    head = sorted(norms[:third])[third // 2]
    tail_values = norms[-third:]
    tail = sorted(tail_values)[len(tail_values) // 2]
    scale = facts.scale if facts.scale and math.isfinite(facts.scale) else 1.0
    if facts.regression:  # a squared error's gradient grows with the target's spread, its root
        scale = math.sqrt(scale)
    huge = tail > explode * scale
    growing = head > 0 and tail / head > growth and tail > scale
    if huge or growing:
        return _exploding(head, tail, max(norms), scale, facts)
    if dead_share >= max_dead_share:
        seen = (
            f"{_share(dead_share)} of the trainable weights never received a gradient within a "
            "millionth of the largest layer's"
        )
    elif depth_ratio < vanish_depth:
        seen = (
            f"The first layer's largest gradient is {fmt(depth_ratio)} times the last layer's: "
            "the gradient fades on its way back through the net"
        )
    elif tail < vanish * scale and not _fitted(facts):
        seen = f"The gradient norm is (near) zero: median {fmt(tail)} late in training"
    else:
        return None
    return finding(
        "vanishing_gradients",
        f"{seen}.",
        "Weights without gradient never change: dead ReLUs, saturated sigmoids/tanh, a "
        "detached graph or frozen layers leave the model unable to learn.",
        no_fix="the net itself has to change: check its activations and initialisation (e.g. "
        "ReLU biases far below zero; sigmoid/tanh stacks: use ReLU), remove .detach() or "
        "torch.no_grad() from forward, make sure every layer has requires_grad=True, and try "
        "fewer layers or normalisation layers.",
    )


def _fitted(facts: RunFacts) -> bool:
    """A training loss near zero next to the trivial one: tiny gradients are then earned."""
    return (
        facts.train_loss is not None
        and facts.scale is not None
        and (facts.train_loss < 1e-3 * facts.scale)
    )


def _exploding(head: float, tail: float, peak: float, scale: float, facts: RunFacts) -> Finding:
    if tail > head:
        trend = f"grew from a median of {fmt(head)} early on to {fmt(tail)} late"
    else:
        trend = f"stayed huge: a median of {fmt(head)} early on and {fmt(tail)} late"
    seen = (
        f"The gradient norm {trend} (peak {fmt(peak)}), {fmt(tail / scale)} times the loss's "
        f"scale ({fmt(scale)}: the trivial predictor's loss, or its root for a squared error)."
    )
    if huge_init(facts):
        return finding(
            "exploding_gradients",
            seen,
            f"{huge_init(facts)}: its outputs, loss and gradients are all that much too large, "
            "and no learning rate brings them back in reasonable time.",
            no_fix=REINIT,
        )
    scaling = [{"data.standardize": True}] if facts.unscaled_inputs else []
    return finding(
        "exploding_gradients",
        seen,
        "Huge gradients throw the weights far from where they were: the loss jumps or becomes "
        "NaN. Unscaled inputs or targets cause this as often as a large learning rate.",
        fixes=[
            *scaling,
            {LR: lr_down(facts), "trainer.gradient_clip_val": 1.0},
            {LR: lr_down(facts)},
            {"trainer.gradient_clip_val": 1.0},
        ],
    )
