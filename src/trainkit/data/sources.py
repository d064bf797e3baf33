"""Offline data sources: the data sets bundled with scikit-learn and a synthetic line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainkit.data.files import RemoteFile, fetch, read_cifar_archive, read_idx
from trainkit.errors import TrainkitError


@dataclass
class ArrayData:
    """Features, targets and what they mean, as loaded from a source."""

    x: np.ndarray  # float32, (N, ...) features or images
    y: np.ndarray  # int64 class indices (N,) or float32 targets (N, k)
    classification: bool
    class_names: list[str] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    # rows that form the test split, for data sets that come with an official one
    test_mask: np.ndarray | None = None


def _classification(bunch: Any) -> ArrayData:
    return ArrayData(
        x=bunch.data.astype(np.float32),
        y=bunch.target.astype(np.int64),
        classification=True,
        class_names=[str(c) for c in bunch.target_names],
    )


def load_diabetes() -> ArrayData:
    """442 patients, 10 features, disease progression after one year (regression)."""
    from sklearn.datasets import load_diabetes as sk_load

    bunch = sk_load()
    return ArrayData(
        x=bunch.data.astype(np.float32),
        y=bunch.target.astype(np.float32).reshape(-1, 1),
        classification=False,
    )


def load_breast_cancer() -> ArrayData:
    """569 tumours, 30 features: benign (0) or malignant (1).

    scikit-learn codes malignant as 0; it is flipped here so that the positive class, whose
    precision and recall the binary metrics report, is the disease (212 of 569 samples).
    """
    from sklearn.datasets import load_breast_cancer as sk_load

    data = _classification(sk_load())
    data.y = 1 - data.y
    data.class_names = data.class_names[::-1]
    return data


def load_wine() -> ArrayData:
    """178 wines, 13 chemical features, 3 cultivars."""
    from sklearn.datasets import load_wine as sk_load

    return _classification(sk_load())


def load_digits() -> ArrayData:
    """1797 handwritten digits as 1x8x8 images with pixel values 0..16, 10 classes."""
    from sklearn.datasets import load_digits as sk_load

    bunch = sk_load()
    data = _classification(bunch)
    data.x = bunch.images.astype(np.float32)[:, None, :, :]
    return data


def make_linear(
    n_samples: int = 1000,
    slope: float = 2.0,
    intercept: float = 1.0,
    noise: float = 0.1,
    seed: int = 0,
) -> ArrayData:
    """The classic line y = slope * x + intercept + noise * N(0, 1), with x ~ U(-1, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n_samples, 1)).astype(np.float32)
    y = (slope * x + intercept + noise * rng.standard_normal((n_samples, 1))).astype(np.float32)
    return ArrayData(x=x, y=y, classification=False)


# -- real image data sets, downloaded on demand into paths.data_dir --------------------------------
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


def load_csv(**kwargs: Any) -> ArrayData:
    """Your own table: see trainkit.data.csv_file.read_csv."""
    from trainkit.data.csv_file import read_csv

    return read_csv(**kwargs)


SOURCES: dict[str, Callable[..., ArrayData]] = {
    "diabetes": load_diabetes,
    "breast_cancer": load_breast_cancer,
    "wine": load_wine,
    "digits": load_digits,
    "linear": make_linear,
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "csv": load_csv,
}
DOWNLOADED = ("mnist", "fashion_mnist", "cifar10")


def load_source(name: str, **kwargs) -> ArrayData:
    """Load a named source; an unknown name lists the known ones."""
    if name not in SOURCES:
        known = ", ".join(sorted(SOURCES))
        raise TrainkitError(f"Unknown data set '{name}'. Known data sets: {known}.")
    return SOURCES[name](**kwargs)
