"""The base of every in-memory data module: load once, split, standardise, serve by indexing."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch import Tensor

from trainkit.data.arrays import ArrayData
from trainkit.data.loader import BatchTransform, TensorBatchLoader
from trainkit.data.split import fit_standardizer, split_indices, stratify_labels
from trainkit.data.values import check_float32
from trainkit.errors import TrainkitError

# data.standardize: true picks the axes from the shape; "feature" and "channel" name them.
STANDARDIZE_CHOICES = (True, False, "feature", "channel")


def standardize_axes_for(shape: tuple[int, ...], standardize: bool | str) -> tuple[int, ...]:
    """The axes whose mean and std are taken: each statistic is shared along these axes.

    "feature": one mean and std per input value position, over the samples only (axis 0).
    "channel": one per channel (axis 1), over the samples and every position (axes 0, 2, ...).
    true: "feature" for tables (N, F), "channel" for sequences and images (N, C, ...).
    """
    if standardize == "channel" and len(shape) < 3:
        raise TrainkitError(
            f"data.standardize=channel needs inputs with channels, (N, C, L) or (N, C, H, W); "
            f"these are {shape}. Use data.standardize=feature (or true)."
        )
    if standardize == "feature" or len(shape) < 3:
        return (0,)
    return (0, *range(2, len(shape)))


class InMemoryDataModule(L.LightningDataModule):
    """A data set small enough to hold in memory, served as whole batches by tensor indexing.

    Subclasses say how to load the arrays (`load`) and may check them against the config
    (`check`) or augment training batches (`train_transform`). The split is stratified and
    seeded; standardisation uses training statistics only: per feature for tables, per channel
    for (N, C, ...) inputs (see `standardize_axes_for`), or over the axes a subclass names in
    `standardize_axes`.
    """

    # None: chosen from the inputs' shape and data.standardize
    standardize_axes: tuple[int, ...] | None = None

    def __init__(
        self,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        seed: int = 0,
        standardize: bool | str = True,
        standardize_target: bool = False,
        num_classes: int | None = None,
        class_fraction: dict[int, float] | None = None,
    ) -> None:
        super().__init__()
        for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise TrainkitError(f"data.{key} must be a positive integer, got {value!r}.")
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.seed = seed
        if standardize not in STANDARDIZE_CHOICES:
            raise TrainkitError(
                f"data.standardize must be true, false, feature or channel, got {standardize!r}."
            )
        self.standardize, self.standardize_target = standardize, standardize_target
        # Declared in the data config so model configs can interpolate ${data.num_classes};
        # the training doctor checks the labels against the model's class count.
        self.num_classes = num_classes
        self.class_fraction = {int(k): float(v) for k, v in (class_fraction or {}).items()}
        self.splits: dict[str, tuple[Tensor, Tensor]] = {}
        self.classification = False
        self.class_names: list[str] = []
        # the input columns' names where the data has them (a CSV header), else []
        self.feature_names: list[str] = []
        self.feature_mean: np.ndarray | None = None
        self.feature_std: np.ndarray | None = None
        self.target_mean: np.ndarray | None = None
        self.target_std: np.ndarray | None = None

    @property
    def name(self) -> str:
        """What error messages call this data: its `dataset` name, else the class name."""
        return str(getattr(self, "dataset", None) or type(self).__name__)

    # -- what subclasses provide -------------------------------------------------------------
    def load(self) -> ArrayData:
        """Return the whole data set as arrays."""
        raise NotImplementedError

    def check(self, data: ArrayData) -> None:
        """Compare the loaded arrays with the sizes declared in the config."""

    def train_transform(self) -> BatchTransform | None:
        """Training-only augmentation of a standardised batch, or None."""
        return None

    # -- Lightning hooks ---------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        data = self.load()
        self.check(data)
        check_finite(data, self.name)
        if self.class_fraction:
            data = self.subsample_classes(data)
        self.classification = data.classification
        self.class_names = data.class_names
        self.feature_names = list(data.feature_names)
        index = split_indices(
            stratify_labels(data.y, data.classification),
            self.val_fraction,
            self.test_fraction,
            self.seed,
            data.test_mask,
        )
        x, y = data.x, data.y
        if self.standardize:
            axes = self.standardize_axes or standardize_axes_for(x.shape, self.standardize)
            self.feature_mean, self.feature_std = fit_standardizer(x[index["train"]], axes)
            x = (x - self.feature_mean) / self.feature_std
        if self.standardize_target and not data.classification:
            self.target_mean, self.target_std = fit_standardizer(y[index["train"]], (0,))
            y = (y - self.target_mean) / self.target_std
        self.splits = {
            name: (torch.from_numpy(np.ascontiguousarray(x[i])), torch.from_numpy(y[i]))
            for name, i in index.items()
        }

    def subsample_classes(self, data: ArrayData) -> ArrayData:
        """Keep a seeded random `class_fraction[c]` of each listed class: imbalance on purpose."""
        if not data.classification:
            raise TrainkitError("data.class_fraction applies to classification data only.")
        rng = np.random.default_rng(self.seed)
        keep = np.ones(len(data.y), dtype=bool)
        for label, fraction in self.class_fraction.items():
            rows = np.flatnonzero(data.y == label)
            drop = rng.permutation(rows)[int(round(fraction * len(rows))) :]
            keep[drop] = False
        data.x, data.y = data.x[keep], data.y[keep]
        if data.test_mask is not None:
            data.test_mask = data.test_mask[keep]
        return data

    def train_dataloader(self) -> TensorBatchLoader:
        x, y = self.splits["train"]
        # Lightning's overfit_batches means "the same few batches every epoch": no shuffling and
        # no augmentation then.
        fixed = bool(self.trainer is not None and self.trainer.overfit_batches)
        return TensorBatchLoader(
            x,
            y,
            self.batch_size,
            shuffle=not fixed,
            seed=self.seed,
            transform=None if fixed else self.train_transform(),
            even=True,
            **self.shard(),
        )

    def val_dataloader(self) -> TensorBatchLoader:
        return TensorBatchLoader(*self.splits["val"], self.eval_batch_size, **self.shard("val"))

    def test_dataloader(self) -> TensorBatchLoader:
        return TensorBatchLoader(*self.splits["test"], self.eval_batch_size, **self.shard("test"))

    def shard(self, split: str = "train") -> dict[str, int]:
        """This process's place under DDP: each serves its own share of every split."""
        trainer = self.trainer
        if trainer is None or trainer.world_size == 1:
            return {}
        rows, world = len(self.splits[split][1]), trainer.world_size
        if split != "train" and rows < world:  # a process with no rows cannot evaluate
            raise TrainkitError(
                f"The {split} split has {rows} rows, fewer than the {world} DDP processes; "
                f"use fewer devices or a larger data.{split}_fraction."
            )
        return {"rank": trainer.global_rank, "world_size": world}

    def predict_dataloader(self) -> TensorBatchLoader:
        return self.test_dataloader()

    # -- facts about the data, for baselines, class weights and reports ----------------------
    def targets(self, split: str) -> Tensor:
        """All targets of a split, in order."""
        return self.splits[split][1]

    def describe(self) -> dict:
        """Split sizes and scaling, for summary.json."""
        info: dict = {"sizes": {name: len(split[1]) for name, split in self.splits.items()}}
        if self.target_mean is not None:
            info["target_mean"] = self.target_mean.ravel().tolist()
            info["target_std"] = self.target_std.ravel().tolist()
        return info


def check_finite(data: ArrayData, name: str) -> None:
    """NaN or Inf in the inputs or targets: say how many, where, and what to do."""
    for what, values in (("inputs", data.x), ("targets", data.y)):
        if not np.issubdtype(values.dtype, np.floating):
            continue
        check_float32(values, f"The '{name}' data's {what}")
        bad = ~np.isfinite(values.reshape(len(values), -1))
        if not bad.any():
            continue
        nan = int(np.isnan(values).sum())
        rows = np.flatnonzero(bad.any(axis=1)) + 1
        where = f"data rows {', '.join(map(str, rows[:5]))}{' ...' if len(rows) > 5 else ''}"
        if what == "inputs" and data.feature_names:
            columns = [data.feature_names[i] for i in np.flatnonzero(bad.any(axis=0))]
            where += f"; columns {', '.join(columns[:5])}"
        raise TrainkitError(
            f"The '{name}' data has {nan} NaN and {int(bad.sum()) - nan} infinite values in its "
            f"{what} ({len(rows)} of {len(values)} rows: {where}). One such value makes every "
            "loss NaN; fill them (e.g. with the column mean) or drop those rows before training."
        )
