"""Checks of the values read from data files (numpy only): float32 range and class labels.

Each check raises a TrainkitError that says where the value is and how to fix it; the array
files, CSV tables, predict.py's input_csv and the doctor's data checks share them.
"""

from __future__ import annotations

import numpy as np

from trainkit.errors import LabelError, TrainkitError

FLOAT32_MAX = float(np.finfo(np.float32).max)


def beyond_float32(values: np.ndarray) -> np.ndarray:
    """Where values are finite but too large for float32 (a cast would make them infinite)."""
    if values.dtype.kind != "f" or values.dtype.itemsize <= 4:
        return np.zeros(values.shape, dtype=bool)
    return np.isfinite(values) & (np.abs(values) > FLOAT32_MAX)


def too_large(where: str, value: float) -> str:
    """The message for a value beyond float32: what, where, and the fix."""
    return (
        f"{where} holds {value:.6g}, too large for float32 (at most about 3.4e+38; it would "
        "become infinite): rescale it (e.g. divide that column by a power of ten) or fix it."
    )


def check_float32(values: np.ndarray, name: str) -> None:
    """The first value too large for float32, where it is and the fix, as a TrainkitError."""
    bad = beyond_float32(values).reshape(len(values), -1)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        value = float(values.reshape(len(values), -1)[row, column])
        raise TrainkitError(too_large(f"{name} (row {row + 1}, column {column + 1})", value))


def class_indices(
    y: np.ndarray, name: str, what: str = "y", lines: list[int] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Class indices 0..C-1 (int64, (N,)) and the class names; `what` and `lines` place labels."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if y.ndim != 1:
        hint = " It looks one-hot: save y.argmax(1)." if y.ndim == 2 else ""
        raise TrainkitError(
            f"{name}: classification targets must be class indices of shape (N,), not "
            f"{y.shape}.{hint} (Targets of another shape are values: data.task=regression.)"
        )
    if y.dtype.kind in "USO":  # names: numbered in sorted order
        names = sorted({str(v) for v in y})
        index = {v: i for i, v in enumerate(names)}
        return np.array([index[str(v)] for v in y], dtype=np.int64), names
    fractions = np.issubdtype(y.dtype, np.floating) and (
        not np.isfinite(y).all() or (y != np.round(y)).any()
    )
    if fractions:
        raise TrainkitError(
            f"{name}: data.task=classification needs whole-number class labels, but y holds "
            "fractions or NaN; leave data.task=auto (regression) or round the labels."
        )
    labels = y.astype(np.int64)
    if labels.min() < 0:
        row = int(np.flatnonzero(labels < 0)[0])
        place = f"line {lines[row]}" if lines else f"row {row + 1}"
        raise LabelError(
            f"{name}: class labels must be 0..C-1, but {what} holds {labels[row]} ({place}); "
            f"{relabel(np.unique(labels).tolist())}."
        )
    return labels, [str(c) for c in range(int(labels.max()) + 1)]


def relabel(seen: list[int]) -> str:
    """How to number the distinct class labels `seen` 0..C-1, naming them."""
    how = "np.unique(y, return_inverse=True)[1] does this"
    if len(seen) > 6:
        return f"relabel the {len(seen)} labels {seen[0]}..{seen[-1]} as 0..{len(seen) - 1} ({how})"
    return f"relabel them {', '.join(f'{v} as {i}' for i, v in enumerate(seen))} ({how})"


def label_fix(seen: list[int], num_classes: int) -> str | None:
    """The relabelling labels `seen` need for `num_classes` classes; None if only C is too small."""
    if seen[0] < 0 or (len(seen) <= num_classes and seen[-1] >= num_classes):
        return relabel(seen)  # negative, numbered from 1, or with gaps
    return None
