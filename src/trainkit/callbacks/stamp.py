"""Write what a run was (experiment, overrides, config, data fingerprint) into every checkpoint."""

from __future__ import annotations

from typing import Any

import lightning as L

from trainkit.data.fingerprint import changed_splits, data_fingerprint, describe_change
from trainkit.errors import TrainkitError

STAMP = "trainkit"


class ConfigStamp(L.Callback):
    """Adds `checkpoint["trainkit"]`, so a checkpoint alone says how to rebuild and resume it.

    The data's fingerprint is taken once the data module is set up. `expected_data`: the
    fingerprint a resumed checkpoint recorded; data that differs from it stops the resume before
    a step is trained.
    """

    def __init__(self, meta: dict[str, Any], expected_data: dict | None = None) -> None:
        self.meta = meta
        self.expected_data = expected_data

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit" or self.meta.get("data_fingerprint"):
            return
        now = data_fingerprint(trainer.datamodule)
        self.meta["data_fingerprint"] = now
        changed = changed_splits(self.expected_data, now, ["train", "val", "test"])
        if changed:
            raise TrainkitError(
                f"The data differs from what this run was trained on: "
                f"{describe_change(self.expected_data, now, changed)}. The data file changed "
                "(rows added, removed, reordered or edited), so a resume would mix two data "
                "sets. Restore the original data to resume, or start a new run on this data."
            )

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[STAMP] = self.meta
