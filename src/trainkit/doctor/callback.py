"""The training doctor: a callback that watches a run and names what is wrong, in plain words."""

from __future__ import annotations

import math
import statistics
from typing import Any

import lightning as L
import torch
from torch import Tensor

from trainkit.compat.lightning import logs_this_step
from trainkit.doctor import data_checks as dc
from trainkit.doctor import observe as obs
from trainkit.doctor import training_checks as tc
from trainkit.doctor.diagnose import WEIGHT_SPECS, diagnose
from trainkit.doctor.findings import Advisor, Finding, print_findings
from trainkit.errors import TrainkitError

# Findings made before or during training (the rest are judged once training ends).
RECORDED_CODES = (
    "labels_out_of_range",
    "class_imbalance",
    "unscaled_inputs",
    "train_eval_overlap",
    "non_finite_loss",
)


class TrainingDoctor(L.Callback):
    """Inspects the data before training, watches losses, outputs and gradients, reports findings.

    It costs next to nothing per step: gradient norms are measured every `every_n_steps` steps
    and kept on the device, the loss is checked for NaN/Inf on the steps Lightning logs
    (`trainer.log_every_n_steps`), and everything else is read at epoch ends.
    """

    def __init__(
        self,
        every_n_steps: int = 10,
        imbalance_ratio: float = 4.0,
        scale_mean_tol: float = 3.0,
        scale_std_low: float = 0.01,
        scale_std_high: float = 10.0,
        overlap_max_rows: int = 50_000,
        flat_min_epochs: int = 5,
        flat_min_drop: float = 0.02,
        diverge_factor: float = 2.0,
        overfit_window: int = 5,
        overfit_rise: float = 0.25,
        overfit_floor: float = 0.05,
        overfit_train_drop: float = 0.05,
        collapse_share: float = 0.95,
        collapse_excess: float = 0.1,
        baseline_alpha: float = 0.01,
        baseline_margin: float = 0.1,
        paradox_recall: float = 0.1,
        grad_explode: float = 100.0,
        grad_growth: float = 100.0,
        grad_vanish: float = 1e-7,
        dead_share: float = 0.5,
        output_sample: int = 512,
        vanish_depth: float = 1e-4,
        expect_overfit: bool = False,
        overfit_target: float = 0.1,
    ) -> None:
        self.every_n_steps = max(1, every_n_steps)
        self.thresholds = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.findings: list[Finding] = []
        self.train_losses: dict[int, float] = {}
        self.val_history: list[dict[str, Any]] = []
        self.grad_norms: list[tuple[int, float]] = []
        self._pending: list[tuple[int, Tensor]] = []
        self._grad_max: Tensor | None = None
        self.initial_lr = float("nan")
        # the first step's loss: a device tensor until first read, then a float
        self._first_loss: Tensor | float | None = None
        self.stopped_non_finite = False
        self._inspected = False
        self._targets: dict[str, Tensor] = {}
        self._val_inputs: Tensor | None = None
        self._start_weights: list[Tensor] | None = None
        self.start_init_scale: float | None = None
        self.imbalance_ratio: float | None = None
        self.single_logit = False
        # set by the run: turns fixes into overrides valid for its config, and its command
        self.advisor: Advisor | None = None

    @property
    def t(self) -> dict[str, Any]:
        return self.thresholds

    def add(self, item: Finding | None) -> None:
        if item is not None and all(f.code != item.code for f in self.findings):
            item.advise(self.advisor)
            self.findings.append(item)

    # -- before training -----------------------------------------------------------------------
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.optimizers and math.isnan(self.initial_lr):  # a resume keeps the first
            # the configured rate (a warm-up schedule may already have changed the group's)
            configured = getattr(pl_module, "lr", None)
            group = trainer.optimizers[0].param_groups[0]
            self.initial_lr = float(
                configured if configured else group.get("initial_lr", group["lr"])
            )
        self.inspect_data(trainer.datamodule, pl_module)
        frozen = dc.check_trainable(pl_module)
        if frozen is not None:
            self.add(frozen)
            raise TrainkitError(frozen.message)
        # where the weights start: how far they move, and how large they were made
        self._start_weights = obs.weight_snapshot(pl_module)
        if self.start_init_scale is None:
            self.start_init_scale = obs.init_scale(pl_module)

    def inspect_data(self, datamodule: Any, pl_module: L.LightningModule) -> None:
        """The checks before the first step; a label out of range raises. Runs once per fit."""
        if self._inspected:
            return
        self._inspected = True
        t = self.t
        data = obs.split_data(datamodule, t["overlap_max_rows"])
        self._targets = {s: y for s, (_, y) in data.items() if s in ("train", "val")}
        if "val" in data:
            self._val_inputs = data["val"][0][: t["output_sample"]]
            outputs = obs.sample_outputs(pl_module, self._val_inputs[:2])
            self.single_logit = (
                outputs is not None
                and outputs.ndim >= 1
                and (outputs.ndim == 1 or outputs.shape[-1] == 1)
            )
        num_classes = getattr(pl_module, "num_classes", None)
        if num_classes and "train" in data:
            self.imbalance_ratio = dc.imbalance_ratio(data["train"][1], num_classes)
        weighted = any(getattr(pl_module, k, None) is not None for k in WEIGHT_SPECS)
        for found in dc.check_data(data, num_classes, t, weighted, self.single_logit):
            self.add(found)
            if found.severity == "error":  # labels the loss cannot take: stop before a step
                raise TrainkitError(found.message)

    # -- during training: cheap, on the device ---------------------------------------------------
    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any
    ) -> None:
        if trainer.global_step % self.every_n_steps:
            return
        params = [p for p in pl_module.parameters() if p.requires_grad]
        if not params:
            return
        zero = torch.zeros((), device=params[0].device)
        norms = torch.stack(
            [
                torch.linalg.vector_norm(p.grad.detach()) if p.grad is not None else zero
                for p in params
            ]
        )
        self._pending.append((trainer.global_step, torch.linalg.vector_norm(norms)))
        if self._grad_max is None:
            self._grad_max = norms
        else:
            if self._grad_max.shape != norms.shape:  # layers unfrozen (or frozen) mid-run
                self._grad_max = norms
            else:
                self._grad_max = torch.maximum(self._grad_max.to(norms.device), norms)

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if not isinstance(loss, Tensor):
            return
        if self._first_loss is None:  # where training started, for check_diverging
            # Lightning divides the returned loss by the accumulation steps: the step's own
            self._first_loss = loss.detach().float().mean() * trainer.accumulate_grad_batches
        # The loss is read on the host only on the steps Lightning logs, as its own callbacks
        # do: every other step makes no host sync, so a GPU never waits for the CPU.
        if not logs_this_step(trainer):
            return
        value = float(loss.detach().float().mean())
        bad = not math.isfinite(value)
        if trainer.world_size > 1:  # every process stops together, or none does
            bad = trainer.strategy.reduce_boolean_decision(bad, all=False)
        if bad:
            self._stop_non_finite(trainer, "train", value)

    @property
    def first_loss(self) -> float | None:
        """The first training step's loss (None before it)."""
        if isinstance(self._first_loss, Tensor):  # one host read, after the steps
            self._first_loss = float(self._first_loss)
        return self._first_loss

    @first_loss.setter
    def first_loss(self, value: float | None) -> None:
        self._first_loss = value

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch > 0:
            self._record_train_loss(trainer, trainer.current_epoch - 1)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush_grad_norms(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        record = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        record["epoch"] = trainer.current_epoch
        confusion = getattr(pl_module, "epoch_details", {}).get("val", {}).get("confusion")
        record["confusion"] = None if confusion is None else confusion.clone()
        self.val_history.append(record)
        loss = record.get("val/loss")
        if loss is not None and not math.isfinite(loss):
            self._stop_non_finite(trainer, "validation", loss)

    def _stop_non_finite(self, trainer: L.Trainer, where: str, value: float) -> None:
        """Stop now, and keep the last good checkpoints: the weights are no longer finite."""
        trainer.should_stop = True
        self.stopped_non_finite = True
        for checkpoint in trainer.checkpoint_callbacks:  # last.ckpt keeps the last finite state
            if hasattr(checkpoint, "freeze"):
                checkpoint.freeze()
            else:
                checkpoint.save_last = False
                checkpoint.save_top_k = 0
        self.add(self._non_finite(trainer, where, value))

    def _non_finite(self, trainer: L.Trainer, where: str, value: float) -> Finding:
        """The finding for a loss gone NaN/Inf, with the cause the run's curves point to."""
        norms = [v for _, v in self.grad_norms] + [float(v) for _, v in self._pending]
        return tc.check_non_finite(
            f"The {where} loss became {value} at epoch {trainer.current_epoch} (step "
            f"{trainer.global_step}); training was stopped and the last good checkpoints were "
            "kept.",
            [v for v in norms if math.isfinite(v)],
            [self.train_losses[e] for e in sorted(self.train_losses)],
            self._lr_facts(trainer),
            trainer.current_epoch,
        )

    def _lr_facts(self, trainer: L.Trainer) -> obs.RunFacts:
        return obs.RunFacts(lr=self.initial_lr, **obs.optimizer_facts(trainer))

    def _record_train_loss(self, trainer: L.Trainer, epoch: int) -> None:
        value = trainer.callback_metrics.get("train/loss")
        if value is not None and epoch not in self.train_losses:
            self.train_losses[epoch] = float(value)

    def _flush_grad_norms(self, trainer: L.Trainer) -> None:
        """Move the epoch's gradient norms to the host once; log their median for the epoch."""
        if not self._pending:
            return
        device = self._pending[-1][1].device  # values restored from a checkpoint are on the CPU
        values = torch.stack([v.to(device) for _, v in self._pending]).float().cpu().tolist()
        steps = [s for s, _ in self._pending]
        self._pending = []
        self.grad_norms.extend(zip(steps, values, strict=True))
        # one point per epoch, at the epoch number like every epoch-level scalar: the median
        median = statistics.median(values)
        for logger in trainer.loggers:
            logger.log_metrics({"train/grad_norm": median}, step=trainer.current_epoch)

    # -- after training ------------------------------------------------------------------------
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record_train_loss(trainer, max(trainer.current_epoch - 1, 0))
        self._flush_grad_norms(trainer)
        self.diagnose(trainer, pl_module)
        self.report(trainer)

    def diagnose(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Run every end-of-training check on what was recorded."""
        for item in diagnose(self, trainer, pl_module):
            self.add(item)

    def report(self, trainer: L.Trainer) -> None:
        """Findings to TensorBoard text and the console (rank 0)."""
        if trainer.global_rank != 0:
            return
        text = "\n\n".join(
            f"**{f.code}** ({f.severity}): {f.message}"
            + (f"\n\n    {f.command}" if f.command and f.severity != "info" else "")
            for f in self.findings
        )
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_text"):
                step = trainer.current_epoch  # the epoch after the last: after training
                experiment.add_text("doctor/findings", text or "No findings.", step)
        print_findings(self.findings)

    # -- resume ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything observed so far, so that a resumed run is judged on its whole history."""
        return {
            # the end-of-training judgements are made afresh when a resumed run ends
            "findings": [f.to_dict() for f in self.findings if f.code in RECORDED_CODES],
            "train_losses": dict(self.train_losses),
            "val_history": list(self.val_history),
            "grad_norms": list(self.grad_norms),
            "pending_grad_norms": [(s, float(v)) for s, v in self._pending],
            "grad_max": None if self._grad_max is None else self._grad_max.detach().cpu(),
            "initial_lr": self.initial_lr,
            "first_loss": self.first_loss,
            "stopped_non_finite": self.stopped_non_finite,
            "start_init_scale": self.start_init_scale,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.findings = [Finding.from_dict(f) for f in state_dict.get("findings", [])]
        self.train_losses = {int(k): v for k, v in state_dict.get("train_losses", {}).items()}
        self.val_history = [{"confusion": None, **r} for r in state_dict.get("val_history", [])]
        self.grad_norms = [tuple(x) for x in state_dict.get("grad_norms", [])]
        self._pending = [(s, torch.tensor(v)) for s, v in state_dict.get("pending_grad_norms", [])]
        self._grad_max = state_dict.get("grad_max")
        self.stopped_non_finite = state_dict.get("stopped_non_finite", False)
        self.start_init_scale = state_dict.get("start_init_scale")
        self.initial_lr = state_dict.get("initial_lr", self.initial_lr)
        self.first_loss = state_dict.get("first_loss", self.first_loss)
