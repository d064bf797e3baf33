"""The wine data set that ships with scikit-learn (three classes)."""

from __future__ import annotations

import numpy as np

from trainkit.data import ArrayData


def load_wine() -> ArrayData:
    """178 wines, 13 chemical features, 3 cultivars."""
    from sklearn.datasets import load_wine as sk_load

    bunch = sk_load()
    return ArrayData(
        x=bunch.data.astype(np.float32),
        y=bunch.target.astype(np.int64),
        classification=True,
        class_names=[str(c) for c in bunch.target_names],
        feature_names=list(bunch.feature_names),
    )
