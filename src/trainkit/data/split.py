"""Seeded, stratified train/val/test splits and train-only standardisation."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from trainkit.errors import TrainkitError


def stratify_labels(y: np.ndarray, classification: bool, bins: int = 5) -> np.ndarray:
    """Labels to stratify on: the classes, or quantile bins of the first regression target."""
    if classification:
        return y
    target = y.reshape(len(y), -1)[:, 0]
    edges = np.quantile(target, np.linspace(0, 1, bins + 1)[1:-1])
    return np.digitize(target, edges)


def split_indices(
    strata: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Indices of the train, val and test splits, each stratified on `strata`."""
    n = len(strata)
    for name, frac in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < frac < 1.0:
            raise TrainkitError(f"data.{name} must lie in (0, 1), got {frac}.")
    if val_fraction + test_fraction >= 1.0:
        raise TrainkitError(
            f"data.val_fraction + data.test_fraction = {val_fraction + test_fraction:.2f} leaves "
            "no training data; keep their sum below 1 (e.g. 0.2 and 0.2)."
        )
    index = np.arange(n)
    rest, test = train_test_split(
        index, test_size=test_fraction, random_state=seed, stratify=strata
    )
    train, val = train_test_split(
        rest,
        test_size=val_fraction / (1.0 - test_fraction),
        random_state=seed,
        stratify=strata[rest],
    )
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def fit_standardizer(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over `axes` of the training features; a constant column keeps scale 1."""
    mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
    std = x.std(axis=axes, keepdims=True, dtype=np.float64)
    std[std < 1e-12] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)
