"""Every checkpoint a run writes is whole: written beside its target, synced, then renamed.

Lightning's own CheckpointIO writes through a temporary file in the system's temporary folder and
then moves it; when the run directory is on another file system that move is a copy, and a kill
during it leaves a truncated checkpoint. Here the partial file lives in the checkpoint's own
folder, so the last step is a rename within one file system: a kill at any moment leaves the
earlier file or the new one, never part of one.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

# The suffix of a checkpoint being written (`best.ckpt.partial`), beside its target.
PARTIAL = ".partial"


def save_whole(obj: Any, path: Path) -> None:
    """`torch.save(obj, path)` so that `path` is only ever the earlier file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + PARTIAL)
    try:
        with open(partial, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (a no-op where folders cannot be opened, e.g. Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def damage(path: str | Path) -> str | None:
    """Why the checkpoint at `path` cannot be whole (missing, empty, truncated), or None.
    Every checkpoint torch writes is a zip archive, whose directory is at its very end."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size == 0:
        return "empty (0 bytes)"
    if not zipfile.is_zipfile(path):
        return f"truncated ({size} bytes, not a whole checkpoint)"
    return None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's TorchCheckpointIO, with local checkpoints written by `save_whole`.

    The Trainer gets it as a plugin, so ModelCheckpoint's best.ckpt, LastCheckpoint's last.ckpt
    and any `trainer.save_checkpoint` go through it (under DDP, on rank 0 only). Remote paths
    (s3://, file://, ...) are left to Lightning's own transaction.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        save_whole(checkpoint, Path(path))


def with_atomic_io(plugins: Any) -> list[Any]:
    """The Trainer's `plugins` as configured (one, a list or none) with AtomicCheckpointIO,
    unless they hold a CheckpointIO of their own."""
    from lightning.pytorch.plugins.io import CheckpointIO

    if plugins is None:
        chosen = []
    elif isinstance(plugins, Sequence) and not isinstance(plugins, str):
        chosen = list(plugins)
    else:
        chosen = [plugins]
    if not any(isinstance(p, CheckpointIO) for p in chosen):
        chosen.append(AtomicCheckpointIO())
    return chosen
