"""Checks of what the model predicts: against the trivial baseline, collapse, probabilities."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from trainkit.doctor.findings import Finding, Fix, finding, fmt
from trainkit.doctor.observe import RunFacts
from trainkit.doctor.training_checks import RAW_TARGET_VARIANCE, flat_cause

# how unlikely the rare class's misses must be for a model with recall 0.5 on it
PARADOX_EVIDENCE = 0.05


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): how often chance alone gets k of n right."""
    if k <= 0 or p >= 1:
        return 1.0
    if p <= 0 or k > n:
        return 0.0
    logs = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
        + i * math.log(p) + (n - i) * math.log1p(-p)
        for i in range(k, n + 1)
    ]  # fmt: skip
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def chance_levels(confusion: Tensor, majority: float) -> dict[str, float]:
    """Accuracy and mean per-class recall (balanced accuracy), each with the chance of a model
    without information reaching it on this many samples (one-sided)."""
    counts = confusion.double()
    n = int(counts.sum())
    support = counts.sum(1)
    present = support > 0
    recall = counts.diagonal()[present] / support[present]
    classes = int(present.sum())
    balanced = float(recall.mean())
    # a predictor blind to the inputs has mean recall 1/C; its spread is at most this
    spread = math.sqrt(float((0.25 / support[present]).sum())) / classes
    z = (balanced - 1 / classes) / max(spread, 1e-12)
    return {
        "n": n,
        "acc": float(counts.diagonal().sum()) / max(n, 1),
        "p_acc": binomial_tail(int(counts.diagonal().sum()), n, majority),
        "balanced": balanced,
        "chance": 1 / classes,
        "p_balanced": 0.5 * math.erfc(z / math.sqrt(2)),
    }


def weight_fixes(facts: RunFacts, num_classes: int) -> list[Fix]:
    """Class weights for skewed labels, unless the loss already weights them."""
    if facts.weighted:
        return []
    if num_classes == 2 and facts.single_logit:
        return [{"model.pos_weight": "balanced"}]
    return [{"model.class_weights": "balanced"}]


def check_baseline(
    best: dict[str, float],
    baseline: dict[str, float],
    confusion: Tensor | None,
    facts: RunFacts,
    alpha: float,
    margin: float,
    paradox_recall: float,
) -> Finding | None:
    """The best validation epoch is no better than the trivial predictor beyond what chance
    gives on a split this size; or its accuracy beats it while the rarest class is (almost)
    never recalled: the accuracy paradox."""
    if confusion is not None and "val/acc" in baseline and confusion.sum() > 0:
        if int((confusion.sum(1) > 0).sum()) < 2:
            return None  # one class in the split: it cannot tell a model from the prior
        return _classifier_verdict(confusion, baseline["val/acc"], facts, alpha, paradox_recall)
    if "val/loss" in best and "val/loss" in baseline:
        return _regression_verdict(best, baseline["val/loss"], facts, margin)
    return None


def _classifier_verdict(
    confusion: Tensor, majority: float, facts: RunFacts, alpha: float, paradox_recall: float
) -> Finding | None:
    level = chance_levels(confusion, majority)
    classes = confusion.shape[0]
    if level["p_acc"] >= alpha and level["p_balanced"] >= alpha:
        why, fixes, no_fix = _no_signal_cause(facts)
        if facts.imbalanced and not facts.weighted:  # the prior wins on skewed labels
            why = "With skewed labels, predicting the majority is the easiest way down the loss."
            fixes, no_fix = weight_fixes(facts, classes) + fixes, ""
        chance = max(level["p_acc"], level["p_balanced"])
        return finding(
            "no_better_than_baseline",
            f"Best validation accuracy {level['acc']:.3f} against the majority class's "
            f"{majority:.3f}, mean recall over classes {level['balanced']:.3f} against chance's "
            f"{level['chance']:.3f}: not clearly better, since a model that learned nothing gets "
            f"this far {chance:.0%} of the time on {level['n']} validation samples.",
            why,
            fixes=fixes,
            no_fix=no_fix,
        )
    return _paradox(confusion, level, facts, alpha, paradox_recall)


def _paradox(
    confusion: Tensor, level: dict, facts: RunFacts, alpha: float, paradox_recall: float
) -> Finding | None:
    """The rarest class (almost) never recalled, and missed too often for luck on its support:
    a model with recall 0.5 on it would miss this often less than 5% of the time (so a class
    with 2 validation samples, both missed, proves nothing)."""
    support = confusion.sum(1).double()
    recall = confusion.diagonal().double() / support.clamp(min=1)
    present = (support > 0).nonzero().flatten()
    rare = int(present[support[present].argmin()])
    share = float(support[rare] / support.sum())
    if float(recall[rare]) > paradox_recall or share > 0.5 / len(present):
        return None
    hits, n = int(confusion[rare, rare]), int(support[rare])
    if 1 - binomial_tail(hits + 1, n, 0.5) >= max(alpha, PARADOX_EVIDENCE):  # P(X <= hits)
        return None
    fixes = weight_fixes(facts, confusion.shape[0]) + [{"monitor": "val/f1", "monitor_mode": "max"}]
    return finding(
        "no_better_than_baseline",
        f"Validation accuracy is {level['acc']:.3f}, but the rarest class {rare} ({n} samples, "
        f"{share:.1%}) has recall {float(recall[rare]):.2f}: the accuracy paradox.",
        "With skewed labels, accuracy rewards ignoring the rare class, which is usually the one "
        "that matters.",
        "Judge the run by recall and F1 of the rare class.",
        fixes,
    )


def _no_signal_cause(facts: RunFacts) -> tuple[str, list[Fix], str]:
    """Why a model learned nothing that carries over: the optimisation (a training loss that
    never beat the trivial predictor) or the data (one that did, by memorising)."""
    regression_scale = facts.regression and (facts.scale or 0) > RAW_TARGET_VARIANCE
    if facts.train_beat_baseline and not facts.squashed and not regression_scale:
        return (
            "The model fits its training samples, but nothing it learned carries over to new ones.",
            [],
            "the inputs may carry no signal about the labels (shuffled, misaligned or random "
            "labels look like this), or the splits differ; check the data before the model.",
        )
    return flat_cause(facts)


def _regression_verdict(
    best: dict[str, float], base: float, facts: RunFacts, margin: float
) -> Finding | None:
    loss = best["val/loss"]
    if loss < base * (1 - margin):
        return None
    r2 = best.get("val/r2")
    extra = f" (val r2 {fmt(r2)})" if r2 is not None else ""
    why, fixes, no_fix = _no_signal_cause(facts)
    return finding(
        "no_better_than_baseline",
        f"Best validation loss {fmt(loss)}{extra} is no better than predicting the training "
        f"mean ({fmt(base)}).",
        why,
        fixes=fixes,
        no_fix=no_fix,
    )


def check_collapse(
    confusion: Tensor, facts: RunFacts, max_share: float, min_excess: float
) -> Finding | None:
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
    why, fixes, no_fix = _no_signal_cause(facts)
    if facts.imbalanced and not facts.weighted:
        fixes, no_fix = weight_fixes(facts, confusion.shape[0]) + fixes, ""
    return finding(
        "prediction_collapse",
        f"The classifier predicts class {top} for {share:.1%} of validation samples, "
        f"although only {float(actual[top]):.1%} of them belong to it.",
        "A collapsed model has learned the class prior, not the inputs: its accuracy is the "
        "majority share and the other classes are never found. " + why,
        fixes=fixes,
        no_fix=no_fix,
    )


def check_probability_outputs(outputs: Tensor, single_logit: bool) -> Finding | None:
    """Net outputs already look like probabilities: all in [0, 1], or softmax rows summing to 1."""
    if outputs.numel() < 2 or not torch.isfinite(outputs).all():
        return None
    low, high = float(outputs.min()), float(outputs.max())
    # a sigmoid's outputs spread over (0, 1); one logit near the class prior's (0.5) does not
    spread = 0.5 if single_logit else 1e-3
    in_unit = low >= 0.0 and high <= 1.0 and high - low > spread
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
        f"The {loss} loss applies its own sigmoid/softmax, so it squashes twice: gradients "
        "shrink, training crawls, and predicted probabilities are wrong.",
        no_fix="remove the final sigmoid/softmax from the net (model.net) and return raw "
        "scores; trainkit derives probabilities once, after the loss.",
    )
