"""The cnn example: image data sets from files or the web, through my_project's SimpleCNN."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest
import torch
from conftest import CONF, QUIET, check_search, compose_train, read_summary, run_script
from floors import floor_id, run_reaches_floor
from hydra.utils import instantiate

from my_project.data.image_files import read_cifar_archive, read_idx
from my_project.data.images import ImageDataModule
from my_project.nets.cnn import SimpleCNN
from trainkit.errors import TrainkitError


def test_data_files_missing_offline_is_one_clear_line(tmp_path, monkeypatch):
    """MNIST absent and downloads off: one sentence naming each file and where to get it."""
    monkeypatch.setenv("TRAINKIT_OFFLINE", "1")
    run_dir = tmp_path / "run"
    result = run_script(
        "train.py",
        "+experiment=cnn",
        "data=mnist",
        f"paths.data_dir={tmp_path / 'data'}",
        *QUIET,
        f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(error) == 1, result.stderr[-3000:]
    for fragment in (
        "MNIST is not in",
        "downloads are switched off",
        "t10k-labels-idx1-ubyte.gz from https://",
    ):
        assert fragment in error[0], error[0]
    summary = read_summary(run_dir)
    assert summary["status"] == "failed" and summary["stop_reason"] == "error"
    assert "MNIST is not in" in summary["error"]
    assert not (run_dir / "checkpoints" / "last.ckpt").exists()


FLOORS = [(("+experiment=cnn",), "test/acc", 0.97)]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "metric", "floor"), FLOORS, ids=floor_id)
def test_default_run_reaches_floor(converged_runs, args, metric, floor):
    run_reaches_floor(converged_runs, args, metric, floor)


# -- SimpleCNN: sizes come from the data, never from hand-computed constants -------------------
@pytest.mark.parametrize(("channels", "size"), [(1, 8), (1, 28), (3, 32)])
def test_simple_cnn_adapts_to_image_shape(channels, size):
    net = SimpleCNN(in_channels=channels, image_size=size, num_classes=10, channels=[8, 16])
    assert net(torch.randn(5, channels, size, size)).shape == (5, 10)


@pytest.mark.parametrize(
    ("data", "shape"),
    [
        ("digits", (1, 8, 8)),
        ("mnist", (1, 28, 28)),
        ("fashion_mnist", (1, 28, 28)),
        ("cifar10", (3, 32, 32)),
    ],
)
def test_cnn_experiment_fits_each_image_data_set_through_data_alone(tmp_path, data, shape):
    """`+experiment=cnn data=NAME`: the net's sizes follow the data config, nothing else."""
    cfg = compose_train(tmp_path / "run", ["+experiment=cnn", f"data={data}"])
    assert (cfg.data.in_channels, cfg.data.image_size, cfg.data.image_size) == shape
    net = instantiate(cfg.model.net)
    assert net(torch.randn(3, *shape)).shape == (3, 10)


def test_simple_cnn_refuses_images_too_small_for_its_pooling():
    with pytest.raises(ValueError, match="at least 8 pixels"):
        SimpleCNN(in_channels=1, image_size=4, num_classes=10, channels=[8, 8, 8])


# -- the image data sets --------------------------------------------------------------------------
def test_digits_are_1x8x8_images_shifted_in_training_only():
    """The shift itself is the kit's (tests/kit/test_data.py); here: the example passes it on."""
    digits = ImageDataModule("digits", in_channels=1, image_size=8, num_classes=10, max_shift=1)
    digits.setup()
    assert digits.splits["train"][0].shape[1:] == (1, 8, 8)
    assert digits.train_transform() is not None
    assert ImageDataModule("digits", max_shift=0).train_transform() is None


def test_image_data_sizes_and_names_are_checked():
    with pytest.raises(TrainkitError, match="set data.image_size=8"):
        ImageDataModule("digits", image_size=28).setup()
    with pytest.raises(TrainkitError, match="Known ones: cifar10, digits"):
        ImageDataModule("svhn")


# -- IDX and CIFAR readers, on tiny files in the exact formats -------------------------------------
def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX format: two zero bytes, a type code, the number of dimensions, big-endian sizes."""
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + array.tobytes()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_idx_reader_reads_images_and_labels_gzipped_or_not(tmp_path):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    (tmp_path / "images.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (tmp_path / "labels").write_bytes(idx_bytes(labels))
    assert np.array_equal(read_idx(tmp_path / "images.gz"), images)
    assert np.array_equal(read_idx(tmp_path / "labels"), labels)
    wide = np.array([[1, -2], [300000, 4]], dtype=">i4")
    (tmp_path / "wide").write_bytes(idx_bytes(wide))
    assert np.array_equal(read_idx(tmp_path / "wide"), wide)


def test_idx_reader_refuses_truncated_and_foreign_files(tmp_path):
    data = idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8))
    (tmp_path / "short").write_bytes(data[:-10])
    (tmp_path / "text").write_bytes(b"hello world, not idx")
    with pytest.raises(TrainkitError, match="truncated"):
        read_idx(tmp_path / "short")
    with pytest.raises(TrainkitError, match="not an IDX file"):
        read_idx(tmp_path / "text")


def cifar_batch(n: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    batch = {
        b"data": rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),
        b"labels": rng.integers(0, 10, n).tolist(),
    }
    return pickle.dumps(batch, protocol=3)


def tar_gz(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_cifar_archive_reader_checks_each_batch(tmp_path):
    batches = {"data_batch_1": cifar_batch(5, 0), "test_batch": cifar_batch(3, 1)}
    tar_gz(tmp_path / "c.tar.gz", batches)
    out = read_cifar_archive(tmp_path / "c.tar.gz", {k: md5(v) for k, v in batches.items()})
    assert out["data_batch_1"][b"data"].shape == (5, 3072)
    assert len(out["test_batch"][b"labels"]) == 3


def test_no_batch_is_unpickled_before_its_checksum_matches(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = pickle.dumps({b"data": Payload()}, protocol=3)
    tar_gz(tmp_path / "c.tar.gz", {"data_batch_1": evil})
    with pytest.raises(TrainkitError, match="MD5"):
        read_cifar_archive(tmp_path / "c.tar.gz", {"data_batch_1": md5(b"the real file")})
    assert not marker.exists()
    # even a matching checksum never lets a pickle call anything but numpy's array rebuild
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        read_cifar_archive(tmp_path / "c.tar.gz", {"data_batch_1": md5(evil)})
    assert not marker.exists()


def test_cnn_search_varies_keys_of_the_experiment(tmp_path):
    """hparams_search=cnn_optuna, written for this example, varies only its keys."""
    check_search(CONF / "hparams_search" / "cnn_optuna.yaml", "cnn", tmp_path)
