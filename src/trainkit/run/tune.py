"""Lightning's learning-rate range test, run before fit on a throwaway trainer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.tuner import Tuner
from omegaconf import DictConfig, OmegaConf

from trainkit.checkpoints.atomic import with_atomic_io
from trainkit.errors import TrainkitError
from trainkit.report.plots import lr_find_figure


def find_lr(
    cfg: DictConfig, trainer: L.Trainer, model: Any, datamodule: Any, run_dir: Path
) -> dict[str, Any]:
    """Run the range test, set the suggested rate on the model and in `cfg`, log the plot."""
    if not hasattr(model, "lr"):
        raise TrainkitError(
            "tune.lr_find=true needs a model with an `lr` attribute (trainkit's tasks have one)."
        )
    tune = cfg.tune
    before = model.lr
    # A separate trainer, so the range test's steps leave no trace in callbacks or logs.
    probe = L.Trainer(
        accelerator=trainer.accelerator,
        devices=1,
        max_epochs=100_000,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(run_dir),
        plugins=with_atomic_io(None),  # its temporary checkpoint too: whole or not at all
    )
    finder = Tuner(probe).lr_find(
        model,
        datamodule=datamodule,
        min_lr=tune.min_lr,
        max_lr=tune.max_lr,
        num_training=tune.num_training,
        update_attr=False,
    )
    suggestion = finder.suggestion() if finder is not None else None
    used = float(suggestion) if suggestion is not None else before
    model.lr = used
    OmegaConf.update(cfg, "model.optimizer.lr", used)
    if finder is not None:
        figure = lr_find_figure(finder.results["lr"], finder.results["loss"], suggestion)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_figure("tune/lr_find", figure, global_step=0)
    found = f"suggested {used:.3g}" if suggestion is not None else "found no clear minimum"
    print(
        f"LR finder ({tune.min_lr:g}..{tune.max_lr:g}, {tune.num_training} steps): {found}; "
        f"training with model.optimizer.lr={used:.3g} (the config had {before:.3g})."
    )
    return {"suggested": suggestion, "used": used, "configured": before}
