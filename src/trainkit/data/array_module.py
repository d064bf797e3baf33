"""The data module of arrays of any shape: `data=arrays data.path=FILE`, or a `source` function."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from trainkit.data.arrays import (
    ArrayData,
    check_task,
    read_arrays,
    shape_facts,
    to_array_data,
)
from trainkit.data.inmemory import InMemoryDataModule
from trainkit.data.loader import BatchTransform
from trainkit.errors import TrainkitError


class ArrayDataModule(InMemoryDataModule):
    """Arrays of any shape, from `path` (a file) or `source` (a function returning ArrayData or
    (X, y)); split stratified and seeded, standardised with training statistics.

    Sizes given in the config (num_features, in_channels, ..., num_classes) are checked against
    the arrays; `max_shift` > 0 shifts training images (N, C, H, W) by up to that many pixels.
    """

    def __init__(
        self,
        path: str | None = None,
        source: Callable[[], Any] | None = None,
        target_path: str | None = None,
        task: str = "auto",
        max_shift: int = 0,
        num_features: int | None = None,
        in_channels: int | None = None,
        length: int | None = None,
        height: int | None = None,
        width: int | None = None,
        image_size: int | None = None,
        num_targets: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (path is None) == (source is None):
            raise TrainkitError("An ArrayDataModule needs either data.path or data.source.")
        check_task(task)  # before anything is read
        self.path, self.source, self.target_path, self.task = path, source, target_path, task
        self.max_shift = max_shift
        self.declared = {
            "num_features": num_features, "in_channels": in_channels, "length": length,
            "height": height, "width": width, "image_size": image_size,
            "num_classes": self.num_classes, "num_targets": num_targets,
        }  # fmt: skip

    @property
    def name(self) -> str:
        if self.path is not None:
            return str(self.path)
        function = getattr(self.source, "func", self.source)  # a partial's function
        return str(getattr(self, "dataset", None) or getattr(function, "__name__", "data"))

    def load(self) -> ArrayData:
        if self.source is None:
            return to_array_data(*read_arrays(self.path, self.target_path), self.task, self.name)
        loaded = self.source()
        if isinstance(loaded, ArrayData):
            return loaded
        if isinstance(loaded, (tuple, list)) and len(loaded) == 2:
            return to_array_data(*loaded, self.task, self.name)
        raise TrainkitError(
            f"data.source {self.name} returned {type(loaded).__name__}; it must return "
            "ArrayData or a pair (X, y)."
        )

    def check(self, data: ArrayData) -> None:
        found = shape_facts(data)
        for key, declared in self.declared.items():
            if key == "num_classes" and declared is not None and found[key] is not None:
                continue  # labels beyond num_classes are the doctor's labels_out_of_range
            if declared is not None and declared != found[key]:
                shown = f"{data.x.shape[1:]} inputs" if key != "num_targets" else "targets"
                regression = key == "num_classes" and not data.classification
                raise TrainkitError(
                    f"data.{key} is {declared} but {self.name} has "
                    + (f"{found[key]}" if found[key] is not None else f"no {key} ({shown})")
                    + (f"; set data.{key}={found[key]}." if found[key] is not None else ".")
                    + (
                        " Its targets were read as regression values (data.task=auto); if "
                        "they are class labels, set data.task=classification."
                        if regression
                        else ""
                    )
                )
        if self.max_shift and data.x.ndim != 4:
            raise TrainkitError(
                f"data.max_shift shifts images (N, C, H, W); {self.name} has inputs of shape "
                f"{data.x.shape[1:]}. Set data.max_shift=0."
            )

    def train_transform(self) -> BatchTransform | None:
        if self.max_shift <= 0:
            return None
        import torch

        from trainkit.data.transforms import random_shift

        # Shifted-in pixels are a raw 0 (the background), per channel, after standardisation.
        fill = torch.zeros(1)
        mean, std = self.feature_mean, self.feature_std
        if mean is not None and mean.size == mean.shape[1]:  # one mean per channel
            fill = torch.from_numpy(-mean / std).reshape(-1)
        return partial(random_shift, max_shift=self.max_shift, fill=fill)
