"""Resuming a run: which checkpoint, the command that continues, and leaving an earlier run
as it was when a resume is refused or fails before it trains a step."""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from trainkit.callbacks.stamp import STAMP
from trainkit.checkpoints.files import check_resume, load_checkpoint, train_command
from trainkit.compat.lightning import saved_mid_epoch

# TensorBoard event files of a run (a sweep job's lie one folder deeper)
EVENTS = "tensorboard/**/events.out.tfevents.*"


def task_overrides(cfg: DictConfig) -> list[str]:
    """The overrides this run was started with (Hydra's), for stamps and resume commands."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return [o for o in HydraConfig.get().overrides.task if not o.startswith("ckpt_path=")]
    experiment = cfg.get("experiment")
    return [f"+experiment={experiment}"] if experiment and experiment != "default" else []


class Resume:
    """A resume from `ckpt_path`, checked before anything in the run directory changes.

    `model` (built from this run's config) is checked against the checkpoint and then trained.
    `undo()` removes what this attempt added (its .hydra/resumed_<time> config copy and its
    TensorBoard event files) when it failed before training a single step.
    """

    def __init__(self, cfg: DictConfig, ckpt_path: str, model: Any, run_dir: Path) -> None:
        self.run_dir, self.model = run_dir, model
        self.events = set(run_dir.glob(EVENTS))
        try:
            checkpoint = load_checkpoint(ckpt_path)
            changes = check_resume(checkpoint, cfg, model, Path(ckpt_path))
        except BaseException:
            self.undo()
            raise
        self.step = int(checkpoint.get("global_step", 0))
        # The first epoch-numbered step this attempt logs again (TensorBoard hides what an
        # earlier attempt logged from there on): inside an epoch, its end; else its start.
        self.epoch = int(checkpoint.get("epoch", 0))
        with contextlib.suppress(KeyError, TypeError):
            self.epoch += saved_mid_epoch(checkpoint)
        # the data it was trained on, which this attempt must load again (see ConfigStamp)
        self.data_fingerprint = (checkpoint.get(STAMP) or {}).get("data_fingerprint")
        print(
            f"Resuming from {ckpt_path} (epoch {checkpoint.get('epoch', 0)}, step {self.step})"
            + (f"; changed for this attempt: {changes}." if changes else "."),
            file=sys.stderr,
        )

    def undo(self) -> None:
        from hydra.core.hydra_config import HydraConfig

        for path in set(self.run_dir.glob(EVENTS)) - self.events:
            path.unlink(missing_ok=True)
        if HydraConfig.initialized():
            hydra = HydraConfig.get()
            subdir = str(hydra.output_subdir or "")
            if subdir.startswith(".hydra/resumed_"):
                shutil.rmtree(Path(hydra.runtime.output_dir) / subdir, ignore_errors=True)


def resume_advice(overrides: list[str], run_dir: Path, trained: bool) -> dict[str, str]:
    """What to do after an interrupt: the command that resumes (or tests), and why."""
    last = run_dir / "checkpoints" / "last.ckpt"
    best = run_dir / "checkpoints" / "best.ckpt"
    if trained and best.is_file():
        return {
            "resume_note": "Training had finished; the test of the best checkpoint was cut short.",
            "resume_command": f"python scripts/eval.py ckpt_path={best}",
        }
    if not last.is_file():
        return {"resume_note": "Stopped before any training state was saved; start the run again."}
    keep = [o for o in overrides if not o.startswith("hydra.run.dir=")]
    return {
        "resume_note": f"The training state was saved to {last}.",
        "resume_command": train_command(keep, f"ckpt_path={last}", f"hydra.run.dir={run_dir}"),
    }
