"""Image data held in memory, with train-only random shifts."""

from __future__ import annotations

from functools import partial
from typing import Any

import torch

from trainkit.data.inmemory import InMemoryDataModule
from trainkit.data.loader import BatchTransform
from trainkit.data.sources import DOWNLOADED, ArrayData, download_source, load_source
from trainkit.data.transforms import random_shift
from trainkit.errors import TrainkitError


class ImageDataModule(InMemoryDataModule):
    """(N, C, H, W) images, standardised per channel; training batches get random shifts."""

    standardize_axes = (0, 2, 3)

    def __init__(
        self,
        dataset: str = "digits",
        in_channels: int | None = None,
        image_size: int | None = None,
        max_shift: int = 1,
        data_dir: str = "data",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.data_dir = data_dir
        self.in_channels, self.image_size = in_channels, image_size
        self.max_shift = max_shift

    def prepare_data(self) -> None:
        # Lightning runs this in one process per machine before any process loads the data,
        # so DDP processes do not all download the same files.
        if self.dataset in DOWNLOADED:
            download_source(self.dataset, self.data_dir)

    def load(self) -> ArrayData:
        if self.dataset in DOWNLOADED:  # fetched into data_dir on first use
            return load_source(self.dataset, data_dir=self.data_dir)
        return load_source(self.dataset)

    def check(self, data: ArrayData) -> None:
        if data.x.ndim != 4:
            raise TrainkitError(
                f"'{self.dataset}' gives arrays of shape {data.x.shape}, not images (N, C, H, W)."
            )
        _, channels, height, width = data.x.shape
        if height != width:
            raise TrainkitError(
                f"'{self.dataset}' images are {height}x{width}; SimpleCNN and data.image_size "
                "expect square images, so crop or pad them to a square."
            )
        for key, declared, found in (
            ("in_channels", self.in_channels, channels),
            ("image_size", self.image_size, height),
        ):
            if declared is not None and declared != found:
                raise TrainkitError(
                    f"data.{key} is {declared} but the '{self.dataset}' images are "
                    f"{channels}x{height}x{width}; set data.{key}={found}."
                )

    def train_transform(self) -> BatchTransform | None:
        if self.max_shift <= 0:
            return None
        # Shifted-in pixels are a raw 0 (the background), per channel, after standardisation.
        fill = torch.zeros(1)
        if self.feature_mean is not None:
            fill = torch.from_numpy(-self.feature_mean / self.feature_std).reshape(-1)
        return partial(random_shift, max_shift=self.max_shift, fill=fill)
