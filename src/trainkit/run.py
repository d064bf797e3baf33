"""Training as a plain function of a config: fit, test the best checkpoint, write summary.json."""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from trainkit.callbacks.history import MetricHistory
from trainkit.doctor import TrainingDoctor
from trainkit.errors import TrainkitError
from trainkit.report import log_hparams, print_summary, readable_config, write_summary


def user_error(exc: BaseException) -> TrainkitError | None:
    """The TrainkitError behind `exc` (Hydra wraps errors raised in constructors), if any."""
    seen = exc
    while seen is not None:
        if isinstance(seen, TrainkitError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def build(
    cfg: DictConfig,
) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer, MetricHistory]:
    """Instantiate data, model, callbacks, loggers and trainer from the config, seeded."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    history = MetricHistory(cfg.monitor, cfg.monitor_mode)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c]
    trainer = instantiate(cfg.trainer, callbacks=[*callbacks, history], logger=loggers or False)
    return datamodule, model, trainer, history


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
    return trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""


def evaluate_best(trainer: L.Trainer, model: L.LightningModule, datamodule: Any) -> dict:
    """Test the best checkpoint (or the final weights when no checkpoint was kept)."""
    best = best_checkpoint_path(trainer)
    results = trainer.test(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)
    return {k: float(v) for k, v in (results[0] if results else {}).items()}


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
    from trainkit.tune import find_lr

    doctor = find_doctor(trainer)
    if doctor is not None:
        datamodule.setup("fit")
        doctor.inspect_data(datamodule, model)
    return find_lr(cfg, trainer, model, datamodule, run_dir)


def new_summary(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """The summary.json of a run that has not got anywhere yet (a failure until shown otherwise)."""
    return {
        "experiment": cfg.get("experiment") or "default",
        "status": "failed",
        "stop_reason": "error",
        "epochs_completed": 0,
        "best_checkpoint": None,
        "metrics": {},
        "baseline": {},
        "diagnostics": [],
        "seed": cfg.seed,
        "run_dir": str(run_dir),
    }


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, test the best checkpoint and write `summary.json` into the run directory."""
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    summary = new_summary(cfg, run_dir)
    start = time.perf_counter()
    trainer = history = None
    try:
        datamodule, model, trainer, history = build(cfg)
        if cfg.get("tune") and cfg.tune.lr_find:
            summary["lr_find"] = tune_lr(cfg, trainer, model, datamodule, run_dir)
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        # Read before testing: loading the best checkpoint also rolls callback state back.
        summary.update(fit_summary(trainer, history, run_dir))
        if cfg.test and history.best() is not None:
            summary["metrics"].update(evaluate_best(trainer, model, datamodule))
        summary["baseline"] = baselines(model, datamodule)
        summary.update(extras(model, datamodule))
        summary["status"] = "completed"
    except BaseException as exc:
        # Lightning turns Ctrl-C into SystemExit after its own clean-up.
        interrupted = isinstance(exc, (KeyboardInterrupt, SystemExit))
        if trainer is not None and history is not None:
            with contextlib.suppress(Exception):  # what was done is not lost
                summary.update(fit_summary(trainer, history, run_dir))
        summary["status"] = "interrupted" if interrupted else "failed"
        summary["stop_reason"] = "interrupted" if interrupted else "error"
        if not interrupted:
            summary["error"] = str(user_error(exc) or f"{type(exc).__name__}: {exc}")
        raise
    finally:
        summary["wall_time_s"] = round(time.perf_counter() - start, 2)
        finish(cfg, trainer, summary, run_dir)
    return summary


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
    matrix = getattr(model, "confusion_results", {}).get("test")
    if matrix is not None:
        out["confusion_matrix"] = {"test": matrix.tolist()}
    return out


def finish(cfg: DictConfig, trainer: L.Trainer | None, summary: dict, run_dir: Path) -> None:
    """On rank 0: write summary.json, fill the HPARAMS tab, print the final table."""
    if trainer is not None and trainer.global_rank != 0:
        return
    write_summary(run_dir / "summary.json", summary)
    if trainer is not None and summary["metrics"]:
        config = OmegaConf.to_container(cfg, resolve=True)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                log_hparams(
                    logger.experiment,
                    readable_config(config),
                    summary["metrics"],
                    trainer.global_step,
                )
    if summary["status"] == "completed":
        print_summary(summary, run_dir)
