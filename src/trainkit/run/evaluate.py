"""Evaluate a checkpoint on the test split of the data it was trained on."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from trainkit.callbacks import ConfusionMatrixLogger
from trainkit.callbacks.stamp import STAMP
from trainkit.checkpoints.files import load_checkpoint, state_dict_mismatch
from trainkit.errors import TrainkitError
from trainkit.report.summary import print_summary, write_summary
from trainkit.run.train import baselines, extras, new_summary


def checkpoint_and_config(cfg: DictConfig, script: str) -> tuple[Path, DictConfig, dict]:
    """`cfg.ckpt_path`, the composed config of the run that wrote it, and the checkpoint."""
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise TrainkitError(
            f"ckpt_path is required: python scripts/{script} ckpt_path=RUN/checkpoints/best.ckpt"
        )
    ckpt_path = Path(cfg.ckpt_path)
    checkpoint = load_checkpoint(ckpt_path)
    return ckpt_path, training_config(ckpt_path, checkpoint), checkpoint


def training_config(ckpt_path: Path, checkpoint: dict) -> DictConfig:
    """The config a checkpoint records about itself, else its run's .hydra/config.yaml."""
    stamped = (checkpoint.get(STAMP) or {}).get("config")
    if stamped:
        return OmegaConf.create(stamped)
    config = ckpt_path.resolve().parent.parent / ".hydra" / "config.yaml"
    if not config.is_file():
        raise TrainkitError(
            f"{ckpt_path} does not say how it was trained, and there is no {config}. Evaluate a "
            "checkpoint inside the run directory that trained it (RUN/checkpoints/*.ckpt)."
        )
    return OmegaConf.load(config)


def build_from_checkpoint(node: DictConfig, ckpt_path: Path) -> Any:
    """Instantiate the data or model config a checkpoint's run recorded; a class it names that no
    longer imports (a renamed package, a moved module) gets an error that says so."""
    from hydra.errors import InstantiationException

    try:
        return instantiate(node)
    except InstantiationException as exc:
        missing = re.search(r"Error locating target '([\w.]+)'", str(exc))
        if missing is None:
            raise
        target = missing.group(1)
        raise TrainkitError(
            f"{ckpt_path} was trained with {target}, which no longer imports (its package was "
            "renamed, e.g. by scripts/new_project.py, or the module moved). Evaluate it where "
            f"{target.split('.')[0]} is importable, or retrain it in this project."
        ) from None


def restore_model(train_cfg: DictConfig, checkpoint: dict, ckpt_path: Path) -> Any:
    """The trained model, rebuilt from its config with the checkpoint's weights."""
    model = build_from_checkpoint(train_cfg.model, ckpt_path)
    problem = state_dict_mismatch(model.state_dict(), checkpoint["state_dict"])
    if problem:
        raise TrainkitError(f"{ckpt_path} does not fit the model its run config builds: {problem}.")
    model.load_state_dict(checkpoint["state_dict"])
    return model


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Rebuild data and model from the checkpoint's run, test it, write summary.json."""
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    ckpt_path, train_cfg, state = checkpoint_and_config(cfg, "eval.py")
    L.seed_everything(train_cfg.seed, workers=True, verbose=False)
    datamodule = build_from_checkpoint(train_cfg.data, ckpt_path)
    model = restore_model(train_cfg, state, ckpt_path)
    trainer = L.Trainer(
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        logger=TensorBoardLogger(
            str(run_dir), name="tensorboard", version="", default_hp_metric=False
        ),
        callbacks=[ConfusionMatrixLogger()],
        enable_checkpointing=False,
        enable_model_summary=False,
        default_root_dir=str(run_dir),
    )
    results = trainer.test(model, datamodule=datamodule)
    summary = new_summary(train_cfg, run_dir)
    summary.update(
        {
            "status": "completed",
            "stop_reason": None,
            "epochs_completed": int(state.get("epoch", -1)) + 1,
            "best_checkpoint": str(ckpt_path.resolve()),
            "metrics": {k: float(v) for k, v in results[0].items()},
            "baseline": {
                k: v for k, v in baselines(model, datamodule).items() if k.startswith("test/")
            },
            "train_run_dir": str(ckpt_path.resolve().parent.parent),
            **extras(model, datamodule),
            "wall_time_s": round(time.perf_counter() - start, 2),
        }
    )
    write_summary(run_dir / "summary.json", summary)
    print_summary(summary, run_dir)
    return summary
