"""The diabetes data set that ships with scikit-learn (regression)."""

from __future__ import annotations

import numpy as np

from trainkit.data import ArrayData


def load_diabetes() -> ArrayData:
    """442 patients, 10 features, disease progression after one year."""
    from sklearn.datasets import load_diabetes as sk_load

    bunch = sk_load()
    return ArrayData(
        x=bunch.data.astype(np.float32),
        y=bunch.target.astype(np.float32).reshape(-1, 1),
        classification=False,
        feature_names=list(bunch.feature_names),
    )
