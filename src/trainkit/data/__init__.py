"""Data modules: in-memory tabular and image data served by tensor indexing."""

from trainkit.data.images import ImageDataModule
from trainkit.data.inmemory import InMemoryDataModule
from trainkit.data.loader import TensorBatchLoader
from trainkit.data.tabular import CsvDataModule, TabularDataModule

__all__ = [
    "CsvDataModule",
    "ImageDataModule",
    "InMemoryDataModule",
    "TabularDataModule",
    "TensorBatchLoader",
]
