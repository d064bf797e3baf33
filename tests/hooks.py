"""Test-only callbacks that a real training subprocess loads through `+callbacks.NAME=...`."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L


class PauseAt(L.Callback):
    """Once, after training batch `batch` of epoch `epoch`: write `marker`, then sleep.

    A test waits for the marker and sends its signal while the run sleeps inside the batch, so
    the signal lands mid-epoch at a known batch. Sleeping changes no number.
    """

    def __init__(self, epoch: int, batch: int, marker: str, seconds: float = 2.0) -> None:
        self.epoch, self.batch = epoch, batch
        self.marker, self.seconds = Path(marker), seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        here = (trainer.current_epoch, batch_idx) == (self.epoch, self.batch)
        if here and not self.marker.exists():
            self.marker.write_text(f"epoch {self.epoch} batch {self.batch}\n")
            time.sleep(self.seconds)
