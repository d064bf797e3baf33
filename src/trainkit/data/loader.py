"""Serve in-memory tensors as whole batches by indexing: no per-sample __getitem__, no collate."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

BatchTransform = Callable[[Tensor, torch.Generator], Tensor]


class EpochSeed:
    """The epoch counter Lightning advances (it calls `set_epoch` on a loader's `sampler`)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def generator(self) -> torch.Generator:
        """A generator that depends only on (seed, epoch), so any epoch can be replayed."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)


class TensorBatchLoader:
    """Iterate (x, y) batches of in-memory tensors; the last partial batch is kept.

    With `shuffle`, each epoch visits the rows in a fresh seeded order; `transform` (training
    augmentation) draws its randomness from the same per-epoch generator.
    """

    # Lightning inspects `sampler` / `batch_sampler` like a DataLoader's; ours batches itself.
    batch_sampler = None

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        transform: BatchTransform | None = None,
    ) -> None:
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.transform = transform
        self.sampler = EpochSeed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n, bs = len(self.x), self.batch_size
        generator = self.sampler.generator()
        order = torch.randperm(n, generator=generator) if self.shuffle else None
        for start in range(0, n, bs):
            if order is None:  # contiguous slices are views: no copy at all
                x, y = self.x[start : start + bs], self.y[start : start + bs]
            else:
                idx = order[start : start + bs]
                x, y = self.x[idx], self.y[idx]
            if self.transform is not None:
                x = self.transform(x, generator)
            yield x, y
