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
    strata: np.ndarray,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    test_mask: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Indices of the train, val and test splits, each stratified on `strata`.

    With `test_mask` (a data set's official test rows) those rows are the test split and
    `test_fraction` is not used; val takes `val_fraction` of all rows from the others.
    """
    n = len(strata)
    fractions = {"val_fraction": val_fraction}
    if test_mask is None:
        fractions["test_fraction"] = test_fraction
    for name, frac in fractions.items():
        if not 0.0 < frac < 1.0:
            raise TrainkitError(
                f"data.{name} must lie in (0, 1), got {frac}: every split needs samples."
            )
    if test_mask is None and val_fraction + test_fraction >= 1.0:
        raise TrainkitError(
            f"data.val_fraction + data.test_fraction = {val_fraction + test_fraction:.2f} leaves "
            "no training data; keep their sum below 1 (e.g. 0.2 and 0.2)."
        )
    index = np.arange(n)
    if test_mask is None:
        rest, test = _split(index, test_fraction, seed, strata, "test")
        share = val_fraction / (1.0 - test_fraction)
    else:
        rest, test = index[~test_mask], index[test_mask]
        share = val_fraction * n / max(len(rest), 1)
    train, val = _split(rest, share, seed, strata[rest], "val")
    split = {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}
    for name, rows in split.items():
        if len(rows) == 0:
            raise TrainkitError(f"The {name} split is empty ({n} samples in all); add samples.")
    return split


def _split(
    index: np.ndarray, fraction: float, seed: int, strata: np.ndarray, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """One stratified cut of `index`; a data set too small for it gets a clear error."""
    n = len(index)
    size = int(np.ceil(fraction * n))
    if size < 1 or n - size < 1:
        raise TrainkitError(
            f"With {n} samples to split, data.{name}_fraction gives an empty split "
            f"({size} vs {n - size} samples). Use more data or a fraction between "
            f"{1 / max(n, 1):.3g} and {1 - 1 / max(n, 1):.3g}."
        )
    labels, counts = np.unique(strata, return_counts=True)
    if counts.min() < 2:
        rare = labels[counts.argmin()]
        raise TrainkitError(
            f"Too few samples to split: {n} in all, and class {rare} has only {counts.min()}; "
            "a stratified split needs at least 2 of every class (and every split at least one "
            "per class). Add samples or merge rare classes."
        )
    if min(size, n - size) < len(labels):
        raise TrainkitError(
            f"Too few samples to split: data.{name}_fraction leaves {min(size, n - size)} of "
            f"{n} samples on one side, fewer than the {len(labels)} classes (strata) that a "
            f"stratified split puts on both sides. Add samples or change data.{name}_fraction."
        )
    return train_test_split(index, test_size=size, random_state=seed, stratify=strata)


def fit_standardizer(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over `axes` of the training features; a constant column keeps scale 1."""
    mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
    std = x.std(axis=axes, keepdims=True, dtype=np.float64)
    std[std < 1e-12] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)
