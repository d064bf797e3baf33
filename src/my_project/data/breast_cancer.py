"""The breast cancer data set that ships with scikit-learn (binary classification)."""

from __future__ import annotations

import numpy as np

from trainkit.data import ArrayData


def load_breast_cancer() -> ArrayData:
    """569 tumours, 30 features: benign (0) or malignant (1).

    scikit-learn codes malignant as 0; it is flipped here so that the positive class, whose
    precision and recall the binary metrics report, is the disease (212 of 569 samples).
    """
    from sklearn.datasets import load_breast_cancer as sk_load

    bunch = sk_load()
    return ArrayData(
        x=bunch.data.astype(np.float32),
        y=1 - bunch.target.astype(np.int64),
        classification=True,
        class_names=[str(c) for c in bunch.target_names[::-1]],
        feature_names=list(bunch.feature_names),
    )
