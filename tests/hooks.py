"""Test-only callbacks that a real training subprocess loads through `+callbacks.NAME=...`."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L


class PauseAt(L.Callback):
    """Once, after batch `batch` of epoch `epoch` (a training batch, or with stage="val" a
    validation batch): write `marker`, then sleep.

    A test waits for the marker and sends its signal while the run sleeps inside the batch, so
    the signal lands at a known point. Sleeping changes no number.
    """

    def __init__(
        self, epoch: int, batch: int, marker: str, stage: str = "train", seconds: float = 2.0
    ) -> None:
        self.epoch, self.batch, self.stage = epoch, batch, stage
        self.marker, self.seconds = Path(marker), seconds

    def _pause(self, trainer, batch_idx: int, stage: str) -> None:
        here = (trainer.current_epoch, batch_idx, stage) == (self.epoch, self.batch, self.stage)
        if here and not trainer.sanity_checking and not self.marker.exists():
            self.marker.write_text(f"{stage} epoch {self.epoch} batch {self.batch}\n")
            time.sleep(self.seconds)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._pause(trainer, batch_idx, "train")

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *_) -> None:
        self._pause(trainer, batch_idx, "val")


class FillDiskAfter(L.Callback):
    """At the end of training epoch `epochs - 1`, fill the file system holding `path` with one
    file, so that the next write of the run fails as on a full disk."""

    def __init__(self, epochs: int, path: str) -> None:
        self.epochs, self.path = epochs, Path(path)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch + 1 < self.epochs or self.path.exists():
            return
        with self.path.open("wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * 4096)
                    handle.flush()
            except OSError:  # the disk is full
                pass
