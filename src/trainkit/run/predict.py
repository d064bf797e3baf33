"""Predictions of a checkpoint as a CSV: the class and its probabilities, or the value."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from trainkit.run.evaluate import (
    build_from_checkpoint,
    check_data,
    checkpoint_and_config,
    recorded_run,
    restore_model,
)
from trainkit.run.inputs import read_inputs


def predict(cfg: DictConfig) -> Path:
    """Write predictions.csv (and summary.json) into the run directory; return its path."""
    run_dir = Path(cfg.paths.output_dir)
    path = run_dir / "predictions.csv"
    with recorded_run(cfg, "predict.py") as summary:
        ckpt_path, train_cfg, state = checkpoint_and_config(cfg, "predict.py")
        datamodule = build_from_checkpoint(train_cfg.data, ckpt_path)
        datamodule.setup("predict")
        # raw inputs are scaled with the training split's statistics; else the test split
        splits = ["train"] if cfg.input_csv else ["test"]
        summary.update(check_data(cfg, state, datamodule, splits, "predict.py"))
        model = restore_model(train_cfg, state, ckpt_path)
        header, rows = _predictions(cfg, model.to(device_for(cfg)).eval(), datamodule)
        if rank_zero_only.rank == 0:
            partial = path.with_name(path.name + ".partial")
            with partial.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(header)
                writer.writerows(rows)
            os.replace(partial, path)
            print(f"Wrote {len(rows)} predictions to {path}")
        summary.update({"best_checkpoint": str(ckpt_path.resolve()), "predictions": path.name,
                        "rows": len(rows)})  # fmt: skip
    return path


def device_for(cfg: DictConfig) -> torch.device:
    """One device: a GPU when the trainer group allows one and there is one, else the CPU."""
    accelerator = str(OmegaConf.select(cfg, "trainer.accelerator", default="auto"))
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


@torch.no_grad()
def _predictions(cfg: DictConfig, model: Any, datamodule: Any) -> tuple[list, list]:
    """Header and rows of predictions.csv."""
    device = next(model.parameters()).device
    targets = lines = None
    if cfg.input_csv:
        x, lines = read_inputs(Path(cfg.input_csv), datamodule, cfg.input_header)
    else:
        x, targets = datamodule.splits["test"]
    out = torch.cat([model(batch.to(device)).cpu() for batch in x.split(cfg.batch_size)])
    header, rows = _table(model, datamodule, out, lines)
    if targets is not None:
        header.insert(1, "target")
        shown = _target_values(datamodule, targets)
        rows = [[row[0], t, *row[1:]] for row, t in zip(rows, shown, strict=True)]
    return header, rows


def _table(
    model: Any, datamodule: Any, out: Tensor, lines: list[int] | None = None
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows: where each sample came from (`input_line`: its line in input_csv, 1-based;
    else `index`: its place in the test split, from 0), the prediction, then class
    probabilities or nothing more."""
    key, ids = ("index", range(len(out))) if lines is None else ("input_line", lines)
    if hasattr(model, "probabilities"):
        probs = model.probabilities(out)
        classes = model.predict_classes(out).tolist()
        names = datamodule.class_names or [str(i) for i in range(probs.shape[1])]
        header = [key, "prediction", *(f"prob_{n}" for n in names)]
        rows = [
            [i, c, *(f"{p:.6g}" for p in ps)]
            for i, c, ps in zip(ids, classes, probs.tolist(), strict=True)
        ]
        return header, rows
    values = _target_values(datamodule, out)
    return [key, "prediction"], [[i, v] for i, v in zip(ids, values, strict=True)]


def _target_values(datamodule: Any, y: Tensor) -> list[Any]:
    """Targets or regression outputs in the target's own units; class labels as they are."""
    if y.is_floating_point():
        if datamodule.target_mean is not None:
            y = y * torch.from_numpy(datamodule.target_std) + torch.from_numpy(
                datamodule.target_mean
            )
        flat = y.reshape(len(y), -1)
        return [
            f"{v[0]:.6g}" if len(v) == 1 else " ".join(f"{e:.6g}" for e in v) for v in flat.tolist()
        ]
    return y.tolist()
