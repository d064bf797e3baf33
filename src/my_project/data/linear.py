"""A synthetic straight line with noise (regression)."""

from __future__ import annotations

import numpy as np

from trainkit.data import ArrayData


def make_linear(
    n_samples: int = 1000,
    slope: float = 2.0,
    intercept: float = 1.0,
    noise: float = 0.1,
    seed: int = 0,
) -> ArrayData:
    """The classic line y = slope * x + intercept + noise * N(0, 1), with x ~ U(-1, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n_samples, 1)).astype(np.float32)
    y = (slope * x + intercept + noise * rng.standard_normal((n_samples, 1))).astype(np.float32)
    return ArrayData(x=x, y=y, classification=False)
