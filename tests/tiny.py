"""The kit's own test data and nets: small, defined here, independent of the examples.

The data are real data sets that ship with scikit-learn, saved as array files the way a user
would save theirs, so the kit's tests train through `data=arrays` like a user's experiment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

# tests/conf/experiment/tiny_*.yaml read their files from this folder (set by conftest.py).
DATA_ENV = "TRAINKIT_TEST_DATA"


def write_data(folder: Path) -> dict[str, Path]:
    """Save the four test data sets as .npz files in `folder`; returns {name: path}."""
    from sklearn import datasets

    folder.mkdir(parents=True, exist_ok=True)
    diabetes = datasets.load_diabetes()
    cancer = datasets.load_breast_cancer()
    wine = datasets.load_wine()
    digits = datasets.load_digits()
    arrays = {
        "diabetes": (diabetes.data, diabetes.target.astype(np.float32)),
        "breast_cancer": (cancer.data, 1 - cancer.target),  # 1 = malignant, the positive class
        "wine": (wine.data, wine.target),
        "digits": (digits.images[:, None].astype(np.float32), digits.target),
    }
    paths = {}
    for name, (x, y) in arrays.items():
        paths[name] = folder / f"{name}.npz"
        np.savez(paths[name], X=x.astype(np.float32), y=y)
    return paths


def mlp(in_features: int, out_features: int, hidden: int = 32, dropout: float = 0.1) -> nn.Module:
    """Flatten, one hidden ReLU layer, a linear head: raw scores out."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, out_features),
    )


class TinyCNN(nn.Module):
    """Two 3x3 conv + pool stages and a linear head, for small square images."""

    def __init__(self, in_channels: int, image_size: int, num_classes: int, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.head = nn.Linear(2 * width * side * side, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(torch.flatten(self.features(x), 1))


class TinyConv1d(nn.Module):
    """One Conv1d stage, global average pooling and a linear head, for (N, C, L) sequences."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, width, kernel_size=5, padding=2)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(torch.relu(self.conv(x)).mean(dim=2))
