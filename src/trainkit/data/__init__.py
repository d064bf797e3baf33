"""Data modules: in-memory arrays of any shape served as whole batches by tensor indexing.

The names below are imported on first use, so that `trainkit.data.arrays` (what config
resolvers read array files with) loads without Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "ArrayData": "trainkit.data.arrays",
    "ArrayDataModule": "trainkit.data.array_module",
    "CsvDataModule": "trainkit.data.csv_file",
    "InMemoryDataModule": "trainkit.data.inmemory",
    "TensorBatchLoader": "trainkit.data.loader",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'trainkit.data' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
