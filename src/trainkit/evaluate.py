"""Evaluate a checkpoint on the test split of the data it was trained on."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from trainkit.callbacks import ConfusionMatrixLogger
from trainkit.errors import TrainkitError
from trainkit.report import print_summary, write_summary
from trainkit.run import baselines, extras, new_summary


def checkpoint_and_config(cfg: DictConfig, script: str) -> tuple[Path, DictConfig]:
    """`cfg.ckpt_path`, checked, and the composed config of the run that wrote it."""
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise TrainkitError(
            f"ckpt_path is required: python scripts/{script} ckpt_path=RUN/checkpoints/best.ckpt"
        )
    ckpt_path = Path(cfg.ckpt_path)
    return ckpt_path, training_config(ckpt_path)


def training_config(ckpt_path: Path) -> DictConfig:
    """The composed config of the run that wrote `ckpt_path` (RUN/checkpoints/x.ckpt)."""
    if not ckpt_path.is_file():
        raise TrainkitError(
            f"Checkpoint not found: {ckpt_path}. Pass the path of a .ckpt file, e.g. "
            "ckpt_path=logs/cnn/runs/<run>/checkpoints/best.ckpt."
        )
    config = ckpt_path.resolve().parent.parent / ".hydra" / "config.yaml"
    if not config.is_file():
        raise TrainkitError(
            f"No training config next to {ckpt_path}: expected {config}. Evaluate a checkpoint "
            "inside the run directory that trained it (RUN/checkpoints/*.ckpt)."
        )
    return OmegaConf.load(config)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Rebuild data and model from the checkpoint's run, test it, write summary.json."""
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    ckpt_path, train_cfg = checkpoint_and_config(cfg, "eval.py")
    L.seed_everything(train_cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(train_cfg.data)
    model = instantiate(train_cfg.model)
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
    state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["state_dict"])
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
