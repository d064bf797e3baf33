"""Checksum-verified downloads on demand: a data set's files are fetched once into a folder,
each checked against its pinned MD5, and reported plainly when offline."""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

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
