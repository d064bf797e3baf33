"""Image data sets: the 8x8 digits that ship with scikit-learn, and MNIST, Fashion-MNIST and
CIFAR-10, downloaded on first use into paths.data_dir and checked against pinned checksums."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from my_project.data.image_files import read_cifar_archive, read_idx
from trainkit.data import ArrayData, ArrayDataModule
from trainkit.data.download import RemoteFile, fetch
from trainkit.errors import TrainkitError


def load_digits() -> ArrayData:
    """1797 handwritten digits as 1x8x8 images with pixel values 0..16, 10 classes."""
    from sklearn.datasets import load_digits as sk_load

    bunch = sk_load()
    return ArrayData(
        x=bunch.images.astype(np.float32)[:, None, :, :],
        y=bunch.target.astype(np.int64),
        classification=True,
        class_names=[str(c) for c in bunch.target_names],
    )


MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
IDX_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
MNIST_MD5 = (
    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "d53e105ee54ea40749a09fcbcd1e9432",
    "9fb629c4189551a2d022fa330f9573f3",
    "ec29112dd5afa0611ce80d1b7f02629c",
)
FASHION_MD5 = (
    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "25c81989df183df01b3e8a0aad5dffbe",
    "bef4ecab320f06d8554ea6380940ec79",
    "bb300cfdad3c16e7a12a480ee83cd310",
)
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_BATCHES = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


def remote_files(name: str) -> tuple[str, list[RemoteFile], str]:
    """What a downloaded data set fetches: its title, its files and its folder under data_dir."""
    if name == "cifar10":
        return "CIFAR-10", [RemoteFile("cifar-10-python.tar.gz", CIFAR10_URL, CIFAR10_MD5)], name
    title, url, md5s = {
        "mnist": ("MNIST", MNIST_URL, MNIST_MD5),
        "fashion_mnist": ("Fashion-MNIST", FASHION_URL, FASHION_MD5),
    }[name]
    return title, [RemoteFile(n, url + n, m) for n, m in zip(IDX_NAMES, md5s, strict=True)], name


def download_source(name: str, data_dir: str = "data") -> list[Path]:
    """Fetch a downloaded data set's files into data_dir (kept ones are checked, not fetched)."""
    title, files, folder = remote_files(name)
    return fetch(title, files, Path(data_dir) / folder)


def _idx_set(name: str, data_dir: str, names: list[str]) -> ArrayData:
    x_train, y_train, x_test, y_test = (read_idx(p) for p in download_source(name, data_dir))
    return _with_official_test(x_train[:, None], y_train, x_test[:, None], y_test, names)


def _with_official_test(x_train, y_train, x_test, y_test, names: list[str]) -> ArrayData:
    x = np.concatenate([x_train, x_test]).astype(np.float32)
    y = np.concatenate([y_train, y_test]).astype(np.int64)
    test = np.zeros(len(y), dtype=bool)
    test[len(y_train) :] = True
    return ArrayData(x=x, y=y, classification=True, class_names=list(names), test_mask=test)


def load_mnist(data_dir: str = "data") -> ArrayData:
    """70 000 handwritten digits, 1x28x28, pixel values 0..255; the official 10 000 test."""
    return _idx_set("mnist", data_dir, list("0123456789"))


def load_fashion_mnist(data_dir: str = "data") -> ArrayData:
    """70 000 clothing images, 1x28x28, 10 classes; the official 10 000 test."""
    return _idx_set("fashion_mnist", data_dir, FASHION_CLASSES)


def load_cifar10(data_dir: str = "data") -> ArrayData:
    """60 000 colour images, 3x32x32, 10 classes; the official 10 000 test."""
    (path,) = download_source("cifar10", data_dir)
    batches = read_cifar_archive(path, CIFAR10_BATCHES)

    def images(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([batches[n][b"data"] for n in names]).reshape(-1, 3, 32, 32)
        y = np.concatenate([np.asarray(batches[n][b"labels"]) for n in names])
        return x, y

    x_train, y_train = images([f"data_batch_{i}" for i in range(1, 6)])
    x_test, y_test = images(["test_batch"])
    return _with_official_test(x_train, y_train, x_test, y_test, CIFAR10_CLASSES)


LOADERS: dict[str, Callable[..., ArrayData]] = {
    "digits": load_digits,
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
}
DOWNLOADED = ("mnist", "fashion_mnist", "cifar10")


class ImageDataModule(ArrayDataModule):
    """One of the image data sets above, (N, C, H, W), standardised per channel; training
    batches are shifted by up to `max_shift` pixels. SimpleCNN wants square images."""

    def __init__(self, dataset: str = "digits", data_dir: str = "data", **kwargs: Any) -> None:
        if dataset not in LOADERS:
            known = ", ".join(sorted(LOADERS))
            raise TrainkitError(f"Unknown image data set '{dataset}'. Known ones: {known}.")
        loader = LOADERS[dataset]
        source = partial(loader, data_dir=data_dir) if dataset in DOWNLOADED else loader
        super().__init__(source=source, **kwargs)
        self.dataset, self.data_dir = dataset, data_dir

    def prepare_data(self) -> None:
        # Lightning runs this in one process per machine before any process loads the data,
        # so DDP processes do not all download the same files.
        if self.dataset in DOWNLOADED:
            download_source(self.dataset, self.data_dir)

    def check(self, data: ArrayData) -> None:
        if data.x.ndim != 4:
            raise TrainkitError(
                f"'{self.dataset}' gives arrays of shape {data.x.shape}, not images (N, C, H, W)."
            )
        _, _, height, width = data.x.shape
        if height != width:
            raise TrainkitError(
                f"'{self.dataset}' images are {height}x{width}; SimpleCNN and data.image_size "
                "expect square images, so crop or pad them to a square."
            )
        super().check(data)
