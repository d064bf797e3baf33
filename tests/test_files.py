"""Data files: IDX and CIFAR readers on tiny files in the exact formats, downloads that check
MD5s, and no unpickling before a checksum matches."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from trainkit.data.download import RemoteFile, fetch, read_cifar_archive, read_idx
from trainkit.errors import TrainkitError


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


def test_fetch_downloads_verifies_and_reuses(tmp_path):
    source = tmp_path / "server" / "f.gz"
    source.parent.mkdir()
    source.write_bytes(b"payload")
    files = [RemoteFile("f.gz", source.as_uri(), md5(b"payload"))]
    (path,) = fetch("Test set", files, tmp_path / "cache")
    assert path.read_bytes() == b"payload"
    source.unlink()  # present and verified: no second download
    assert fetch("Test set", files, tmp_path / "cache") == [path]


def test_fetch_refuses_a_file_with_the_wrong_checksum(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "f.gz").write_bytes(b"something else")
    with pytest.raises(TrainkitError, match="damaged or not the expected file"):
        fetch("Test set", [RemoteFile("f.gz", "file:///nowhere/f.gz", md5(b"x"))], cache)


def test_fetch_without_network_says_which_files_go_where(tmp_path):
    files = [RemoteFile("a.gz", (tmp_path / "gone" / "a.gz").as_uri(), md5(b"a"))]
    with pytest.raises(TrainkitError) as error:
        fetch("Test set", files, tmp_path / "cache")
    message = str(error.value)
    assert "Test set is not in" in message and "could not be downloaded" in message
    assert f"a.gz from {files[0].url}" in message and str(tmp_path / "cache") in message
    assert not (tmp_path / "cache").exists()  # no partial file, not even the folder, left behind
