"""Offline data sources: the data sets bundled with scikit-learn and a synthetic line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainkit.errors import TrainkitError


@dataclass
class ArrayData:
    """Features, targets and what they mean, as loaded from a source."""

    x: np.ndarray  # float32, (N, ...) features or images
    y: np.ndarray  # int64 class indices (N,) or float32 targets (N, k)
    classification: bool
    class_names: list[str] = field(default_factory=list)


def _classification(bunch: Any) -> ArrayData:
    return ArrayData(
        x=bunch.data.astype(np.float32),
        y=bunch.target.astype(np.int64),
        classification=True,
        class_names=[str(c) for c in bunch.target_names],
    )


def load_diabetes() -> ArrayData:
    """442 patients, 10 features, disease progression after one year (regression)."""
    from sklearn.datasets import load_diabetes as sk_load

    bunch = sk_load()
    return ArrayData(
        x=bunch.data.astype(np.float32),
        y=bunch.target.astype(np.float32).reshape(-1, 1),
        classification=False,
    )


def load_breast_cancer() -> ArrayData:
    """569 tumours, 30 features: benign (0) or malignant (1).

    scikit-learn codes malignant as 0; it is flipped here so that the positive class, whose
    precision and recall the binary metrics report, is the disease (212 of 569 samples).
    """
    from sklearn.datasets import load_breast_cancer as sk_load

    data = _classification(sk_load())
    data.y = 1 - data.y
    data.class_names = data.class_names[::-1]
    return data


def load_wine() -> ArrayData:
    """178 wines, 13 chemical features, 3 cultivars."""
    from sklearn.datasets import load_wine as sk_load

    return _classification(sk_load())


def load_digits() -> ArrayData:
    """1797 handwritten digits as 1x8x8 images with pixel values 0..16, 10 classes."""
    from sklearn.datasets import load_digits as sk_load

    bunch = sk_load()
    data = _classification(bunch)
    data.x = bunch.images.astype(np.float32)[:, None, :, :]
    return data


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


SOURCES: dict[str, Callable[..., ArrayData]] = {
    "diabetes": load_diabetes,
    "breast_cancer": load_breast_cancer,
    "wine": load_wine,
    "digits": load_digits,
    "linear": make_linear,
}


def load_source(name: str, **kwargs) -> ArrayData:
    """Load a named source; an unknown name lists the known ones."""
    if name not in SOURCES:
        known = ", ".join(sorted(SOURCES))
        raise TrainkitError(f"Unknown data set '{name}'. Known data sets: {known}.")
    return SOURCES[name](**kwargs)
