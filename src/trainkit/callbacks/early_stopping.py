"""Lightning's EarlyStopping, with a resume that obeys the command line's patience."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import EarlyStopping as LightningEarlyStopping


class EarlyStopping(LightningEarlyStopping):
    """EarlyStopping whose `patience` on a resume is the one configured now.

    Lightning restores `patience` from the checkpoint, so a resume with
    `callbacks.early_stopping.patience=30` would silently keep the old value, and a run that
    early stopping ended would stop again after one epoch. The count of epochs without
    improvement and the best score still carry on from the checkpoint; `stopped_epoch` starts
    at 0, since the resumed attempt has not stopped (yet).
    """

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        patience = self.patience
        super().load_state_dict(state_dict)
        self.patience = patience
        self.stopped_epoch = 0
