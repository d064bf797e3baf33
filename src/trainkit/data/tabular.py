"""Tabular data: the scikit-learn bundled sets and the synthetic line."""

from __future__ import annotations

from typing import Any

from trainkit.data.inmemory import InMemoryDataModule
from trainkit.data.sources import ArrayData, load_source
from trainkit.errors import TrainkitError


class TabularDataModule(InMemoryDataModule):
    """Rows of features, one target per row; `dataset` names a source in trainkit.data.sources."""

    standardize_axes = (0,)

    def __init__(
        self,
        dataset: str,
        num_features: int | None = None,
        source_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.declared_num_features = num_features
        self.source_kwargs = dict(source_kwargs or {})

    def load(self) -> ArrayData:
        return load_source(self.dataset, **self.source_kwargs)

    def check(self, data: ArrayData) -> None:
        found = data.x.shape[1]
        if self.declared_num_features is not None and self.declared_num_features != found:
            raise TrainkitError(
                f"data.num_features is {self.declared_num_features} but the '{self.dataset}' data "
                f"has {found} features; set data.num_features={found}."
            )


class CsvDataModule(TabularDataModule):
    """Your own table: `data=csv data.path=my.csv data.target=label` (see conf/data/csv.yaml)."""

    def __init__(
        self,
        path: str,
        target: str | int = -1,
        classification: bool = True,
        header: bool = True,
        **kwargs: Any,
    ) -> None:
        source = {"path": path, "target": target, "classification": classification}
        super().__init__(dataset="csv", source_kwargs={**source, "header": header}, **kwargs)
