"""Splits, standardisation, batch serving and augmentation of in-memory array data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import DATA_ENV

from trainkit.data import ArrayDataModule, TensorBatchLoader
from trainkit.data.split import split_indices, stratify_labels
from trainkit.data.transforms import random_shift
from trainkit.errors import TrainkitError


def data_file(name: str) -> str:
    """One of the test data sets that conftest.py saved as .npz (diabetes, wine, digits, ...)."""
    return str(Path(os.environ[DATA_ENV]) / f"{name}.npz")


def wine() -> tuple[np.ndarray, np.ndarray]:
    """A data.source function: 178 wines, 13 features, 3 classes, as (X, y)."""
    from sklearn.datasets import load_wine

    bunch = load_wine()
    return bunch.data, bunch.target


def test_split_is_disjoint_complete_stratified_and_seeded():
    y = np.array([0] * 90 + [1] * 10)
    a = split_indices(stratify_labels(y, True), 0.2, 0.2, seed=1)
    b = split_indices(stratify_labels(y, True), 0.2, 0.2, seed=1)
    c = split_indices(stratify_labels(y, True), 0.2, 0.2, seed=2)
    everything = np.concatenate(list(a.values()))
    assert sorted(everything.tolist()) == list(range(100))
    assert {k: len(v) for k, v in a.items()} == {"train": 60, "val": 20, "test": 20}
    for part in a.values():  # 10% minority in every split
        assert y[part].mean() == pytest.approx(0.1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])


def test_split_fractions_are_checked():
    with pytest.raises(TrainkitError, match="leaves no training data"):
        split_indices(np.zeros(10), 0.5, 0.5, seed=0)


def test_standardisation_uses_training_statistics_only():
    dm = ArrayDataModule(source=wine, num_features=13, num_classes=3, seed=0)
    dm.setup()
    x_train = dm.splits["train"][0]
    assert torch.allclose(x_train.mean(0), torch.zeros(13), atol=1e-5)
    assert torch.allclose(x_train.std(0, unbiased=False), torch.ones(13), atol=1e-4)
    x_val = dm.splits["val"][0]
    assert not torch.allclose(x_val.mean(0), torch.zeros(13), atol=1e-3)


def test_images_are_standardised_per_channel_with_training_statistics(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal([5.0, -3.0], [2.0, 0.5], size=(200, 4, 4, 2)).transpose(0, 3, 1, 2)
    np.savez(tmp_path / "images.npz", X=x.astype(np.float32), y=rng.integers(0, 2, 200))
    dm = ArrayDataModule(path=str(tmp_path / "images.npz"))
    dm.setup()
    x_train = dm.splits["train"][0]
    assert dm.feature_mean.shape == (1, 2, 1, 1)  # one statistic per channel, not per pixel
    assert torch.allclose(x_train.mean(dim=(0, 2, 3)), torch.zeros(2), atol=1e-5)
    assert torch.allclose(x_train.std(dim=(0, 2, 3), unbiased=False), torch.ones(2), atol=1e-4)


def test_declared_sizes_are_checked_against_the_data(tmp_path):
    with pytest.raises(TrainkitError, match="set data.num_features=10"):
        ArrayDataModule(path=data_file("diabetes"), num_features=12).setup()
    with pytest.raises(TrainkitError, match="set data.image_size=8"):
        ArrayDataModule(path=data_file("digits"), image_size=28).setup()
    np.savez(tmp_path / "table.npz", X=np.zeros((20, 3), np.float32), y=np.arange(20) % 2)
    with pytest.raises(TrainkitError, match="no in_channels"):
        ArrayDataModule(path=str(tmp_path / "table.npz"), in_channels=1).setup()
    with pytest.raises(TrainkitError, match="data.path not found"):
        ArrayDataModule(path=str(tmp_path / "iris.npz")).setup()


def test_targets_follow_the_batch_contract():
    binary = ArrayDataModule(path=data_file("breast_cancer"), num_classes=2)
    binary.setup()
    x, y = next(iter(binary.train_dataloader()))
    assert y.dtype == torch.long and y.ndim == 1 and x.dtype == torch.float32
    regression = ArrayDataModule(path=data_file("diabetes"), standardize_target=True)
    regression.setup()
    _, y = next(iter(regression.val_dataloader()))
    assert y.dtype == torch.float32 and y.shape[1:] == (1,)
    assert abs(float(regression.targets("train").mean())) < 1e-5


def test_loader_keeps_partial_batch_and_reshuffles_per_epoch():
    x, y = torch.arange(10.0).reshape(10, 1), torch.arange(10)
    loader = TensorBatchLoader(x, y, batch_size=4, shuffle=True, seed=3)
    assert len(loader) == 3
    epoch0 = torch.cat([b[1] for b in loader])
    again = torch.cat([b[1] for b in loader])
    loader.sampler.set_epoch(1)
    epoch1 = torch.cat([b[1] for b in loader])
    assert [len(b[1]) for b in loader] == [4, 4, 2]
    assert sorted(epoch0.tolist()) == list(range(10))
    assert torch.equal(epoch0, again)  # an epoch can be replayed exactly
    assert not torch.equal(epoch0, epoch1)
    plain = TensorBatchLoader(x, y, batch_size=4)
    assert torch.equal(torch.cat([b[1] for b in plain]), y)


def test_random_shift_moves_whole_images():
    image = torch.zeros(1, 1, 5, 5)
    image[0, 0, 2, 2] = 1.0
    batch = image.repeat(64, 1, 1, 1)
    shifted = random_shift(batch, torch.Generator().manual_seed(0), max_shift=1, fill=0.0)
    assert shifted.shape == batch.shape
    assert torch.equal(shifted.sum(dim=(1, 2, 3)), torch.ones(64))  # nothing lost or invented
    positions = {tuple((s[0] == 1).nonzero()[0].tolist()) for s in shifted}
    assert positions == {(r, c) for r in (1, 2, 3) for c in (1, 2, 3)}


def test_only_training_batches_are_augmented():
    shifted = ArrayDataModule(path=data_file("digits"), max_shift=1)
    plain = ArrayDataModule(path=data_file("digits"), max_shift=0)
    shifted.setup()
    plain.setup()
    x, _ = shifted.splits["train"]
    # same seed, same order: the plain batch is made of training rows, the shifted one is not
    plain_batch, plain_y = next(iter(plain.train_dataloader()))
    shifted_batch, shifted_y = next(iter(shifted.train_dataloader()))
    assert torch.equal(plain_y, shifted_y)
    rows = {tuple(r.flatten().tolist()) for r in x}
    assert all(tuple(r.flatten().tolist()) in rows for r in plain_batch)
    moved = sum(tuple(r.flatten().tolist()) not in rows for r in shifted_batch)
    assert moved > len(shifted_batch) // 2
    val_batch, _ = next(iter(shifted.val_dataloader()))
    assert torch.equal(val_batch, shifted.splits["val"][0][: len(val_batch)])


def test_shift_is_refused_for_inputs_that_are_not_images():
    with pytest.raises(TrainkitError, match="Set data.max_shift=0"):
        ArrayDataModule(path=data_file("wine"), max_shift=1).setup()
