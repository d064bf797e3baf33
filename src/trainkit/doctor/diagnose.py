"""The doctor's end-of-training checks, run on what the callback recorded during the run."""

from __future__ import annotations

import math
from typing import Any

import lightning as L

from trainkit.doctor import observe as obs
from trainkit.doctor import training_checks as tc
from trainkit.doctor.findings import Finding


def diagnose(doctor: Any, trainer: L.Trainer, pl_module: L.LightningModule) -> list[Finding | None]:
    """Every end-of-training check; None where a check found nothing."""
    found: list[Finding | None] = []
    t, lr = doctor.t, doctor.initial_lr
    train = [doctor.train_losses[e] for e in sorted(doctor.train_losses)]
    # judged on the whole data only; debug runs see a few batches on purpose
    partial = bool(trainer.fast_dev_run) or t["expect_overfit"]
    best = obs.best_record(doctor.val_history, trainer)
    baseline = obs.baseline_metrics(pl_module, trainer.datamodule, doctor._targets)
    diverging = tc.check_diverging(train, doctor.first_loss, lr, t["diverge_factor"])
    found.append(diverging)
    if t["expect_overfit"]:
        found.append(tc.check_overfit_debug(train, t["overfit_target"], lr))
    elif not partial:
        found.append(
            tc.check_flat(
                train, baseline.get("val/loss"), lr, t["flat_min_epochs"], t["flat_min_drop"]
            )
        )
        paired = [r for r in doctor.val_history if r["epoch"] in doctor.train_losses]
        if diverging is None:  # a rising validation loss is then no sign of memorising
            found.append(
                tc.check_overfitting(
                    [doctor.train_losses[r["epoch"]] for r in paired],
                    [r.get("val/loss", float("nan")) for r in paired],
                    t["overfit_window"],
                    t["overfit_rise"],
                    t["overfit_train_drop"],
                )
            )
    if best is not None and not partial:
        metrics = {k: v for k, v in best.items() if k.startswith("val/")}
        found.append(
            tc.check_baseline(
                metrics,
                baseline,
                best.get("confusion"),
                t["baseline_margin"],
                t["paradox_recall"],
            )
        )
        # collapsed at the best epoch, or by the (finite) end of training
        last = doctor.val_history[-1]
        for record in (best, last) if math.isfinite(last.get("val/loss", 0.0)) else (best,):
            if record.get("confusion") is not None:
                found.append(
                    tc.check_collapse(
                        record["confusion"], t["collapse_share"], t["collapse_excess"]
                    )
                )
    outputs = obs.sample_outputs(pl_module, doctor._val_inputs)
    if outputs is not None and getattr(pl_module, "num_classes", None):
        single = outputs.ndim == 1 or outputs.shape[-1] == 1
        found.append(tc.check_probability_outputs(outputs, single))
    dead, depth = obs.gradient_reach(pl_module, doctor._grad_max)
    found.append(
        tc.check_gradients(
            [v for _, v in doctor.grad_norms],
            dead,
            depth,
            lr,
            t["grad_explode"],
            t["grad_growth"],
            t["grad_vanish"],
            t["dead_share"],
            t["vanish_depth"],
        )
    )
    return found
