"""Training as a plain function of a config: fit, test the best checkpoint, write summary.json."""

from __future__ import annotations

import contextlib
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig

from trainkit.callbacks import ConfigStamp, MetricHistory
from trainkit.checkpoints.files import stamp
from trainkit.checkpoints.interrupt import TrainingInterrupted, deferred_signals, stop_signals
from trainkit.checkpoints.resume import Resume, resume_advice, task_overrides
from trainkit.cli.config_checks import check_config
from trainkit.compat.lightning import defined_hooks_only
from trainkit.doctor import Finding, TrainingDoctor
from trainkit.errors import LabelError, MachineFault, TrainkitError, user_error
from trainkit.report.summary import empty_summary, print_summary, write_summary_if_room
from trainkit.report.tensorboard import (
    curves_version,
    hparam_values,
    trial_name,
    write_result_run,
)


def build(
    cfg: DictConfig,
    overrides: list[str] | None = None,
    resume_epoch: int | None = None,
    model: L.LightningModule | None = None,
) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer, MetricHistory]:
    """Instantiate data, model (unless given), callbacks, loggers and trainer, seeded.

    `resume_epoch`: the epoch of the checkpoint a resume starts from; TensorBoard (whose steps
    are epochs) then hides anything an earlier attempt logged from that epoch on, so no curve
    has an epoch twice.
    """
    from trainkit.checkpoints.atomic import with_atomic_io

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    model = model if model is not None else instantiate(cfg.model)
    history = MetricHistory(cfg.monitor, cfg.monitor_mode)
    own = [history, ConfigStamp(stamp(cfg, overrides or []))]
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    loggers = []
    for c in (cfg.get("logger") or {}).values():
        if c:
            tensorboard = "TensorBoardLogger" in str(c.get("_target_", ""))
            extra: dict[str, Any] = {}
            if tensorboard and resume_epoch is not None:
                extra["purge_step"] = resume_epoch
                version = curves_version(Path(cfg.paths.output_dir))
                if version is not None:  # the curves go on where they are (a sweep job's too)
                    extra["version"] = version
            loggers.append(instantiate(c, **extra))
    # every checkpoint written whole, beside its target (best.ckpt, last.ckpt, save_checkpoint)
    plugins = with_atomic_io(instantiate(cfg.trainer.get("plugins")))
    trainer = instantiate(
        cfg.trainer, callbacks=[*callbacks, *own], logger=loggers or False, plugins=plugins
    )
    return datamodule, model, trainer, history


def run_advisor(cfg: DictConfig, overrides: list[str]) -> Any:
    """What turns the doctor's fixes into overrides valid for this run, and its command (none
    for a run started from Python: its command line is unknown)."""
    from hydra.core.hydra_config import HydraConfig

    from trainkit.run.advice import RunAdvisor

    known = HydraConfig.initialized()
    name = HydraConfig.get().job.config_name if known else "train"
    return RunAdvisor(cfg, overrides, name or "train", command_line=known)


def find_doctor(trainer: L.Trainer | None) -> TrainingDoctor | None:
    """The run's training doctor, if it has one."""
    callbacks = trainer.callbacks if trainer is not None else []
    return next((c for c in callbacks if isinstance(c, TrainingDoctor)), None)


def stop_reason(trainer: L.Trainer, history: MetricHistory) -> str:
    """Why fit ended, judged from what happened, not from config flags."""
    losses = [r.get("val/loss") for r in history.epochs]
    doctor = find_doctor(trainer)
    if (doctor is not None and doctor.stopped_non_finite) or any(
        v is not None and not math.isfinite(v) for v in losses
    ):
        return "non_finite_loss"
    early = trainer.early_stopping_callback
    if early is not None and early.stopped_epoch > 0:
        return "early_stopping"
    return "max_epochs"


def best_checkpoint_path(trainer: L.Trainer) -> str:
    """The checkpoint ModelCheckpoint judged best, or "" when none was kept."""
    # Lightning's own default (no monitor) keeps the latest epoch, which is not the best one
    paths = [
        getattr(c, "best_model_path", "")
        for c in trainer.checkpoint_callbacks
        if getattr(c, "monitor", None) is not None
    ]
    return next((p for p in paths if p), "")


def evaluate_best(trainer: L.Trainer, model: L.LightningModule, datamodule: Any) -> dict:
    """Test the best checkpoint (or the final weights when no checkpoint was kept)."""
    best = best_checkpoint_path(trainer)
    trainer.test(
        model, datamodule=datamodule, ckpt_path=best or None, verbose=False, weights_only=True
    )
    # the task's test values (logged for callbacks; the loggers get them at the epoch's step)
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}


def baselines(model: Any, datamodule: Any) -> dict[str, float]:
    """The trivial predictor's val and test metrics, through the task's own loss and metrics."""
    if not (hasattr(model, "baseline_metrics") and hasattr(datamodule, "targets")):
        return {}
    train = datamodule.targets("train")
    values: dict[str, float] = {}
    for stage in ("val", "test"):
        values.update(model.baseline_metrics(train, datamodule.targets(stage), stage))
    return values


def tune_lr(
    cfg: DictConfig, trainer: L.Trainer, model: Any, datamodule: Any, run_dir: Path
) -> dict:
    """tune.lr_find=true: the doctor's data checks first (bad labels stop the run before the
    range test takes a step), then Lightning's LR finder."""
    from trainkit.run.tune import find_lr

    doctor = find_doctor(trainer)
    if doctor is not None:
        datamodule.setup("fit")
        doctor.inspect_data(datamodule, model)
    return find_lr(cfg, trainer, model, datamodule, run_dir)


def new_summary(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """The summary.json of a run that has not got anywhere yet (a failure until shown otherwise)."""
    return {**empty_summary(cfg.get("experiment") or "default", run_dir), "seed": cfg.seed}


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, test the best checkpoint and write `summary.json` into the run directory.

    With `ckpt_path` the run resumes from that checkpoint; a checkpoint that cannot be resumed is
    refused before anything in the run directory changes.
    """
    from trainkit.checkpoints.rundir import hold_run_dir  # one run directory, one run

    hold_run_dir(cfg.paths.output_dir, cfg.get("ckpt_path"))
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    overrides = task_overrides(cfg)
    ckpt_path = cfg.get("ckpt_path")
    resume = Resume(cfg, ckpt_path, instantiate(cfg.model), run_dir) if ckpt_path else None
    summary = new_summary(cfg, run_dir)
    start = time.perf_counter()
    trainer = history = None
    phase, write = "setup", True
    with stop_signals(), defined_hooks_only(cfg.get("fast_callback_hooks", False)):
        try:
            check_config(cfg)
            datamodule, model, trainer, history = build(
                cfg,
                overrides,
                resume.epoch if resume else None,
                resume.model if resume else None,  # its weights come from the checkpoint
            )
            stamper = next(c for c in trainer.callbacks if isinstance(c, ConfigStamp))
            doctor = find_doctor(trainer)
            if doctor is not None and trainer.global_rank == 0:
                doctor.advisor = run_advisor(cfg, overrides)
            if resume:
                stamper.expected_data = resume.data_fingerprint
            if cfg.get("tune") and cfg.tune.lr_find and not resume:
                summary["lr_find"] = tune_lr(cfg, trainer, model, datamodule, run_dir)
            phase = "fit"
            if resume:  # the run's own checkpoints are there on purpose
                warnings.filterwarnings("ignore", message=r"Checkpoint directory .* not empty")
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
            # Read before testing: loading the best checkpoint also rolls callback state back.
            summary.update(fit_summary(trainer, history, run_dir))
            summary["data_fingerprint"] = stamper.meta.get("data_fingerprint")
            phase = "test"
            if cfg.test and history.best() is not None:
                summary["metrics"].update(evaluate_best(trainer, model, datamodule))
            summary["baseline"] = baselines(model, datamodule)
            summary.update(extras(model, datamodule))
            summary["status"] = "completed"
        except BaseException as exc:
            if resume and (trainer is None or trainer.global_step <= resume.step):
                resume.undo()  # not a step trained: the earlier run stays exactly as it was
                write = False
                raise
            # Lightning turns a bare KeyboardInterrupt into SystemExit after its own clean-up.
            interrupted = isinstance(exc, (TrainingInterrupted, KeyboardInterrupt, SystemExit))
            if trainer is not None and history is not None and phase != "setup":
                with contextlib.suppress(Exception):  # what was done is not lost
                    summary.update(fit_summary(trainer, history, run_dir))
            summary["status"] = "interrupted" if interrupted else "failed"
            summary["stop_reason"] = "interrupted" if interrupted else "error"
            if interrupted:
                summary.update(resume_advice(overrides, run_dir, trained=phase == "test"))
                raise
            error = user_error(exc)
            summary["error"] = str(error or f"{type(exc).__name__}: {exc}")
            if isinstance(error, LabelError):  # found while loading, before the doctor looked
                summary["diagnostics"] = label_diagnostic(summary.get("diagnostics"), error)
            if isinstance(error, MachineFault) and phase != "setup":  # e.g. the disk filled up
                advice = resume_advice(overrides, run_dir, trained=phase == "test")
                command = advice.get("resume_command")
                then = f" Then continue with: {command}" if command else ""
                summary["error"] = f"{error} {advice['resume_note']}{then}"
                raise TrainkitError(summary["error"]) from exc
            raise
        finally:
            if write:
                summary["wall_time_s"] = round(time.perf_counter() - start, 2)
                with deferred_signals():
                    finish(cfg, trainer, summary, run_dir)
    return summary


def label_diagnostic(diagnostics: list | None, error: LabelError) -> list[dict[str, Any]]:
    """The run's diagnostics with labels_out_of_range for labels the data loading refused."""
    diagnostics = list(diagnostics or [])
    if all(d.get("code") != "labels_out_of_range" for d in diagnostics):
        message = f"{error} No config setting fixes this: the labels must change in the data."
        diagnostics.append(
            {**Finding("labels_out_of_range", message, verbatim=True).to_dict(), "try": []}
        )
    return diagnostics


def fit_summary(trainer: L.Trainer, history: MetricHistory, run_dir: Path) -> dict[str, Any]:
    """Epochs, stop reason, best checkpoint and the best epoch's validation metrics."""
    best = history.best()
    ckpt = best_checkpoint_path(trainer) if best is not None else ""
    doctor = find_doctor(trainer)
    return {
        "diagnostics": [f.to_dict() for f in doctor.findings] if doctor else [],
        "stop_reason": stop_reason(trainer, history),
        "epochs_completed": trainer.current_epoch,
        "best_epoch": best["epoch"] if best else None,
        "best_checkpoint": _relative(ckpt, run_dir) if ckpt else None,
        "metrics": {k: v for k, v in (best or {}).items() if k != "epoch"},
    }


def _relative(path: str, run_dir: Path) -> str:
    """`path` relative to the run directory, or absolute when it lies outside it."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(run_dir.resolve()))
    except ValueError:
        return str(resolved)


def extras(model: Any, datamodule: Any) -> dict[str, Any]:
    """Extra facts for people and notebooks: split sizes, scaling, the test confusion matrix."""
    out: dict[str, Any] = {}
    if hasattr(datamodule, "describe"):
        out["data"] = datamodule.describe()
    matrix = getattr(model, "epoch_details", {}).get("test", {}).get("confusion")
    if matrix is not None:
        out["confusion_matrix"] = {"test": matrix.tolist()}
    return out


def log_result(cfg: DictConfig, trainer: L.Trainer, summary: dict, run_dir: Path) -> None:
    """The run's HPARAMS row beside each TensorBoard run: its hyperparameters (the fixed few
    and its overrides) and final metrics (best epoch's val, best checkpoint's test)."""
    params = hparam_values(cfg, task_overrides(cfg))
    step = summary.get("best_epoch") or 0
    tested = summary.get("epochs_completed")  # the test's step (Task.epoch_step)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            # a sweep job's run is named after its overrides (lr=0.01): its row is too
            label = str(logger.version) if isinstance(logger.version, str) else ""
            name = trial_name(run_dir, Path(cfg.paths.log_dir), label)
            logger.finalize("success")  # its own events flushed first
            try:
                write_result_run(
                    logger.log_dir, params, summary["metrics"], step, name, test_step=tested
                )
            except OSError as error:  # summary.json is written: the run is not lost
                print(f"WARNING: the HPARAMS row was not written: {error}", file=sys.stderr)


def finish(cfg: DictConfig, trainer: L.Trainer | None, summary: dict, run_dir: Path) -> None:
    """On rank 0: write summary.json, the HPARAMS row, print the final table."""
    if trainer is not None and trainer.global_rank != 0:
        return
    write_summary_if_room(run_dir / "summary.json", summary)
    if trainer is not None and summary["status"] == "completed" and summary["metrics"]:
        log_result(cfg, trainer, summary, run_dir)
    if summary["status"] == "completed":
        print_summary(summary, run_dir)
    elif summary["status"] == "interrupted":
        print(f"\nInterrupted. {summary['resume_note']}", file=sys.stderr)
        if summary.get("resume_command"):
            print(f"Continue with:\n  {summary['resume_command']}", file=sys.stderr)
