"""Readers for the IDX (MNIST, Fashion-MNIST) and CIFAR-10 python formats. Nothing is unpickled
before its checksum matches, and then only plain arrays."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from trainkit.errors import TrainkitError

# -- IDX (MNIST, Fashion-MNIST) -----------------------------------------------------------------
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (optionally gzip-compressed), as described on the MNIST page."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise TrainkitError(f"{path} is not an IDX file (bad magic number).")
    dtype, ndim = np.dtype(IDX_TYPES[raw[2]]), raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    start = 4 + 4 * ndim
    count = int(np.prod(shape)) if shape else 0
    if len(raw) - start != count * dtype.itemsize:
        raise TrainkitError(f"{path} is truncated: its header promises shape {shape}.")
    return np.frombuffer(raw, dtype=dtype, offset=start).reshape(shape)


# -- CIFAR-10 python batches ----------------------------------------------------------------------
class _ArraysOnly(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays; refuses every other class."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's own signature
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(data: bytes, md5: str, name: str) -> dict:
    """One CIFAR batch, unpickled only after its MD5 matches, and with arrays only."""
    found = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if found != md5:
        raise TrainkitError(
            f"CIFAR-10 file {name} is damaged or not the expected file (MD5 {found}, expected "
            f"{md5}); delete the archive and run again."
        )
    return _ArraysOnly(io.BytesIO(data), encoding="bytes").load()


def read_cifar_archive(archive: Path, batches: dict[str, str]) -> dict[str, dict]:
    """The named batches of cifar-10-python.tar.gz, each verified before it is unpickled."""
    out = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if name in batches and member.isfile():
                handle = tar.extractfile(member)
                out[name] = read_cifar_batch(handle.read(), batches[name], name)
    if missing := sorted(set(batches) - set(out)):
        raise TrainkitError(f"{archive} lacks {', '.join(missing)}; delete it and run again.")
    return out
