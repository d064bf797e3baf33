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

    Under DDP (`world_size` > 1) each process serves its own share of the rows, `rank::world`
    of the epoch's order. For training (`even=True`) the order is first padded with its own
    first rows to a multiple of `world_size`, so every process runs the same number of steps,
    as DistributedSampler does. For evaluation (`even=False`) nothing is padded: every row is
    seen exactly once, and the metrics, summed across processes, are those of the whole split.

    The loader is resumable (Lightning saves `state_dict()` into checkpoints): the state is the
    epoch, the batches already served and the generator's state, so an epoch interrupted after
    batch k continues with batch k+1 exactly as it would have run.
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
        rank: int = 0,
        world_size: int = 1,
        even: bool = False,
    ) -> None:
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.transform = transform
        self.rank, self.world_size, self.even = rank, world_size, even
        self.sampler = EpochSeed(seed)
        self._served = 0  # batches of the current pass yielded so far
        self._pass_epoch = -1  # the epoch of the current (or last) pass
        self._generator: torch.Generator | None = None
        self._resume: dict | None = None

    def rows(self) -> int:
        """How many rows this process serves per epoch."""
        n, world = len(self.x), self.world_size
        if world == 1:
            return n
        return math.ceil(n / world) if self.even else len(range(self.rank, n, world))

    def __len__(self) -> int:
        return math.ceil(self.rows() / self.batch_size)

    def _order(self, generator: torch.Generator) -> Tensor | None:
        """This process's rows in this epoch's order (None: all rows in order, served as views)."""
        n, world = len(self.x), self.world_size
        if not self.shuffle and world == 1:
            return None
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        if world == 1:
            return order
        if self.even and n % world:  # cyclically, as a split may be smaller than the padding
            total = world * math.ceil(n / world)
            order = order.repeat(math.ceil(total / n))[:total]
        if self.transform is not None:  # each process its own augmentation draws
            generator.manual_seed(generator.initial_seed() + 7_919 * (self.rank + 1))
        return order[self.rank :: world]

    def state_dict(self) -> dict:
        """Where the current pass stands: epoch, batches served, generator state."""
        state = {"epoch": self._pass_epoch, "served": self._served}
        if self._generator is not None:
            state["generator"] = self._generator.get_state()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Continue the saved pass on the next `iter()`, if that is a pass of the same epoch."""
        self._resume = dict(state)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        bs = self.batch_size
        generator = self.sampler.generator()
        order = self._order(generator)
        n = len(self.x) if order is None else len(order)
        first = 0
        resume, self._resume = self._resume, None
        if resume is not None and resume.get("epoch") == self.sampler.epoch:
            first = int(resume.get("served", 0))
            if "generator" in resume:
                generator.set_state(resume["generator"])
        self._pass_epoch, self._served, self._generator = self.sampler.epoch, first, generator
        for start in range(first * bs, n, bs):
            if order is None:  # contiguous slices are views: no copy at all
                x, y = self.x[start : start + bs], self.y[start : start + bs]
            else:
                idx = order[start : start + bs]
                x, y = self.x[idx], self.y[idx]
            if self.transform is not None:
                x = self.transform(x, generator)
            self._served += 1
            yield x, y
