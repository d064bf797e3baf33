"""Write what a run was (experiment, overrides, config) into every checkpoint it saves."""

from __future__ import annotations

from typing import Any

import lightning as L

STAMP = "trainkit"


class ConfigStamp(L.Callback):
    """Adds `checkpoint["trainkit"]`, so a checkpoint alone says how to rebuild and resume it."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[STAMP] = self.meta
