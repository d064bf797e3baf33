"""Data modules: in-memory arrays of any shape served as whole batches by tensor indexing."""

from trainkit.data.arrays import ArrayDataModule
from trainkit.data.csv_file import CsvDataModule
from trainkit.data.inmemory import ArrayData, InMemoryDataModule
from trainkit.data.loader import TensorBatchLoader

__all__ = [
    "ArrayData",
    "ArrayDataModule",
    "CsvDataModule",
    "InMemoryDataModule",
    "TensorBatchLoader",
]
