"""The doctor's end-of-training checks, run on what the callback recorded during the run."""

from __future__ import annotations

import math
import statistics
from typing import Any

import lightning as L

from trainkit.doctor import observe as obs
from trainkit.doctor import training_checks as tc
from trainkit.doctor.findings import Finding
from trainkit.doctor.gradient_checks import check_gradients
from trainkit.doctor.output_checks import (
    chance_levels,
    check_baseline,
    check_collapse,
    check_probability_outputs,
)

WEIGHT_SPECS = ("class_weights_spec", "pos_weight_spec")  # a task's class weights, if any


def run_facts(
    doctor: Any, trainer: L.Trainer, pl_module: L.LightningModule
) -> tuple[obs.RunFacts, dict[str, float]]:
    """The scales and settings the checks judge this run's numbers against, and the trivial
    predictor's validation metrics."""
    baseline = obs.baseline_metrics(pl_module, trainer.datamodule, doctor._targets)
    train = [doctor.train_losses[e] for e in sorted(doctor.train_losses)]
    # the loss's scale: the trivial predictor's, or where training started (a task of your own)
    scale = baseline.get("val/loss", doctor.first_loss)
    recent = sum(train[-3:]) / len(train[-3:]) if train else float("nan")
    early = trainer.early_stopping_callback
    norms = [v for _, v in doctor.grad_norms if math.isfinite(v)]
    codes = {f.code for f in doctor.findings}
    return obs.RunFacts(
        lr=doctor.initial_lr,
        **obs.optimizer_facts(trainer),
        scale=scale if scale is not None and math.isfinite(scale) and scale > 0 else None,
        moved=obs.weight_movement(pl_module, doctor._start_weights),
        clip=obs.gradient_clip(trainer),
        grad_median=statistics.median(norms) if norms else None,
        init_scale=doctor.start_init_scale,
        weighted=any(getattr(pl_module, k, None) is not None for k in WEIGHT_SPECS),
        imbalanced=doctor.imbalance_ratio is not None
        and doctor.imbalance_ratio >= doctor.t["imbalance_ratio"],
        single_logit=doctor.single_logit,
        unscaled_inputs="unscaled_inputs" in codes,
        train_beat_baseline=scale is not None and math.isfinite(recent) and recent < 0.9 * scale,
        stopped_early=early is not None and getattr(early, "stopped_epoch", 0) > 0,
        learned=_beats_chance(doctor, trainer, baseline),
        train_loss=recent if math.isfinite(recent) else None,
        regression="val/acc" not in baseline and "val/r2" in baseline,
    ), baseline


def _beats_chance(doctor: Any, trainer: L.Trainer, baseline: dict[str, float]) -> bool:
    """Whether the best epoch's validation predictions beat chance on the split's size."""
    best = obs.best_record(doctor.val_history, trainer)
    confusion = best.get("confusion") if best else None
    if confusion is None or "val/acc" not in baseline or int((confusion.sum(1) > 0).sum()) < 2:
        return False
    level = chance_levels(confusion, baseline["val/acc"])
    return min(level["p_acc"], level["p_balanced"]) < doctor.t["baseline_alpha"]


def diagnose(doctor: Any, trainer: L.Trainer, pl_module: L.LightningModule) -> list[Finding | None]:
    """Every end-of-training check; None where a check found nothing."""
    found: list[Finding | None] = []
    t = doctor.t
    facts, baseline = run_facts(doctor, trainer, pl_module)
    outputs = obs.sample_outputs(pl_module, doctor._val_inputs)
    if outputs is not None and getattr(pl_module, "num_classes", None):
        squashed = check_probability_outputs(outputs, doctor.single_logit)
        facts.squashed = squashed is not None  # the cause of whatever else went wrong
        found.append(squashed)
    train = [doctor.train_losses[e] for e in sorted(doctor.train_losses)]
    # judged on the whole data only; debug runs see a few batches on purpose
    partial = t["expect_overfit"] or _partial(trainer)
    best = obs.best_record(doctor.val_history, trainer)
    diverging = tc.check_diverging(train, doctor.first_loss, facts, t["diverge_factor"])
    found.append(diverging)
    if t["expect_overfit"]:
        found.append(tc.check_overfit_debug(train, t["overfit_target"], facts))
    elif not partial:
        found.append(
            tc.check_flat(train, doctor.first_loss, facts, t["flat_min_epochs"], t["flat_min_drop"])
        )
        if diverging is None:  # a rising validation loss is then no sign of memorising
            found.append(_overfitting(doctor, trainer, facts, best))
    if best is not None and not partial:
        metrics = {k: v for k, v in best.items() if k.startswith("val/")}
        found.append(
            check_baseline(
                metrics,
                baseline,
                best.get("confusion"),
                facts,
                t["baseline_alpha"],
                t["baseline_margin"],
                t["paradox_recall"],
            )
        )
        # collapsed at the best epoch, or by the (finite) end of training
        last = doctor.val_history[-1]
        for record in (best, last) if math.isfinite(last.get("val/loss", 0.0)) else (best,):
            if record.get("confusion") is not None:
                found.append(
                    check_collapse(
                        record["confusion"], facts, t["collapse_share"], t["collapse_excess"]
                    )
                )
    dead, depth = obs.gradient_reach(pl_module, doctor._grad_max)
    if len(doctor.grad_norms) < 3:  # a step or two: a zero-initialised head proves nothing yet
        return found
    found.append(
        check_gradients(
            [v for _, v in doctor.grad_norms],
            dead,
            depth,
            facts,
            t["grad_explode"],
            t["grad_growth"],
            t["grad_vanish"],
            t["dead_share"],
            t["vanish_depth"],
        )
    )
    return found


def _overfitting(
    doctor: Any, trainer: L.Trainer, facts: obs.RunFacts, best: dict | None
) -> Finding | None:
    """Overfitting judged on epochs with both losses, and only where the monitored metric
    itself got worse after its best epoch."""
    t = doctor.t
    paired = [r for r in doctor.val_history if r["epoch"] in doctor.train_losses]
    monitor, mode = obs.monitored(trainer)
    worse = True
    if best is not None and monitor in best and paired:
        last = paired[-1].get(monitor, float("nan"))
        change = last - best[monitor] if mode == "min" else best[monitor] - last
        worse = math.isfinite(last) and change > 0
    return tc.check_overfitting(
        [doctor.train_losses[r["epoch"]] for r in paired],
        [r.get("val/loss", float("nan")) for r in paired],
        facts,
        t["overfit_window"],
        t["overfit_rise"],
        t["overfit_floor"],
        t["overfit_train_drop"],
        worse,
    )


def _partial(trainer: L.Trainer) -> bool:
    """A run that sees only part of its data on purpose (fast_dev_run, limited batches)."""
    limits = (trainer.limit_train_batches, trainer.limit_val_batches)
    whole = all(isinstance(v, float) and v == 1.0 for v in limits)
    return bool(trainer.fast_dev_run) or bool(trainer.overfit_batches) or not whole
