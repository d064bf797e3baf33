"""Predictions of a checkpoint as a CSV: the class and its probabilities, or the value."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor

from trainkit.errors import TrainkitError
from trainkit.run.evaluate import build_from_checkpoint, checkpoint_and_config, restore_model


def read_inputs(path: Path, datamodule: Any) -> Tensor:
    """Raw inputs from a CSV, shaped and scaled like the training data."""
    if not path.is_file():
        raise TrainkitError(f"input_csv not found: {path}. Give a CSV with one row per sample.")
    with path.open() as handle:
        rows = [row for row in csv.reader(handle) if row]
    if rows and not _numeric(rows[0]):
        rows = rows[1:]  # a header
    shape = tuple(datamodule.splits["train"][0].shape[1:])
    width = int(np.prod(shape))
    if not rows:
        raise TrainkitError(f"{path} has no rows; give one row of {width} numbers per sample.")
    for i, row in enumerate(rows):
        problem = None
        if len(row) != width:
            problem = f"has {len(row)} columns"
        elif not _numeric(row):
            cell = next(v for v in row if not _numeric([v]))
            problem = "has an empty cell" if not cell.strip() else f"holds {cell!r}"
        if problem:
            raise TrainkitError(
                f"{path}: row {i + 1} {problem}, but every row must hold {width} numbers "
                f"(the training inputs' shape {shape})."
            )
    x = np.asarray(rows, dtype=np.float32).reshape(len(rows), *shape)
    if datamodule.feature_mean is not None:
        x = (x - datamodule.feature_mean) / datamodule.feature_std
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _numeric(row: list[str]) -> bool:
    try:
        [float(v) for v in row]
    except ValueError:
        return False
    return True


@torch.no_grad()
def predict(cfg: DictConfig) -> Path:
    """Write predictions.csv into the run directory and return its path."""
    ckpt_path, train_cfg, state = checkpoint_and_config(cfg, "predict.py")
    datamodule = build_from_checkpoint(train_cfg.data, ckpt_path)
    datamodule.setup("predict")
    model = restore_model(train_cfg, state, ckpt_path)
    model.eval()
    targets = None
    if cfg.input_csv:
        x = read_inputs(Path(cfg.input_csv), datamodule)
    else:
        x, targets = datamodule.splits["test"]
    out = torch.cat([model(batch) for batch in x.split(cfg.batch_size)])
    header, rows = _table(model, datamodule, out)
    if targets is not None:
        header.insert(1, "target")
        shown = _target_values(datamodule, targets)
        rows = [[row[0], t, *row[1:]] for row, t in zip(rows, shown, strict=True)]
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "predictions.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    print(f"Wrote {len(rows)} predictions to {path}")
    return path


def _table(model: Any, datamodule: Any, out: Tensor) -> tuple[list[str], list[list[Any]]]:
    """Header and rows: index, prediction, then class probabilities or nothing more."""
    if hasattr(model, "probabilities"):
        probs = model.probabilities(out)
        classes = model.predict_classes(out).tolist()
        names = datamodule.class_names or [str(i) for i in range(probs.shape[1])]
        header = ["index", "prediction", *(f"prob_{n}" for n in names)]
        rows = [
            [i, c, *(f"{p:.6g}" for p in ps)]
            for i, (c, ps) in enumerate(zip(classes, probs.tolist(), strict=True))
        ]
        return header, rows
    values = _target_values(datamodule, out)
    return ["index", "prediction"], [[i, v] for i, v in enumerate(values)]


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
