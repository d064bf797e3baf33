"""Data files on disk: checksum-verified downloads on demand, and readers for the IDX (MNIST,
Fashion-MNIST) and CIFAR-10 python formats. Nothing is unpickled before its checksum matches."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import pickle
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainkit.errors import TrainkitError

# Set TRAINKIT_OFFLINE=1 to never download: a missing file is then reported at once.
OFFLINE_ENV = "TRAINKIT_OFFLINE"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: its name, where it comes from and its pinned MD5."""

    name: str
    url: str
    md5: str


def md5sum(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified(path: Path, md5: str) -> Path:
    """`path`, after checking its MD5; a mismatch is an error that says what to do."""
    found = md5sum(path)
    if found != md5:
        raise TrainkitError(
            f"{path} is damaged or not the expected file (MD5 {found}, expected {md5}). "
            "Delete it and run again to download it afresh."
        )
    return path


def fetch(title: str, files: list[RemoteFile], folder: Path) -> list[Path]:
    """The data set's files in `folder`, verified; missing ones are downloaded on demand."""
    missing = [f for f in files if not (folder / f.name).is_file()]
    if missing:
        reason = "downloads are switched off (TRAINKIT_OFFLINE=1)"
        if os.environ.get(OFFLINE_ENV) != "1":
            created = not folder.exists()
            folder.mkdir(parents=True, exist_ok=True)
            reason = _download_all(missing, folder)
            if reason and created and not any(folder.iterdir()):
                folder.rmdir()  # leave nothing behind
        if reason:
            listing = "; ".join(f"{f.name} from {f.url}" for f in missing)
            raise TrainkitError(
                f"{title} is not in {folder} and could not be downloaded: {reason}. Download "
                f"these files on a machine with network access and put them in {folder}/: "
                f"{listing}. (Set paths.data_dir to keep data elsewhere.)"
            )
    return [verified(folder / f.name, f.md5) for f in files]


def _download_all(files: list[RemoteFile], folder: Path) -> str | None:
    """Download each file (to a .part file, renamed once complete); the failure, if any."""
    for remote in files:
        # one temporary name per process: parallel runs (or ranks) never write the same file
        part = folder / f"{remote.name}.{os.getpid()}.part"
        try:
            with urllib.request.urlopen(remote.url, timeout=30) as response, part.open("wb") as out:
                while block := response.read(1 << 20):
                    out.write(block)
            verified(part, remote.md5)
            part.replace(folder / remote.name)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            return f"no network or the server failed ({getattr(exc, 'reason', exc)})"
        finally:
            part.unlink(missing_ok=True)
    return None


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
