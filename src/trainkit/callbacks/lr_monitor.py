"""Lightning's LearningRateMonitor, with epoch-level rates logged against the epoch number."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor as _LearningRateMonitor

from trainkit.compat.lightning import learning_rate_stats


class LearningRateMonitor(_LearningRateMonitor):
    """Logs the learning rate under Lightning's names (`lr-Adam`, `lr-SGD/pg1`, ...).

    With `logging_interval="epoch"` (or None) the rate each epoch starts with goes in at step =
    epoch number, like every other epoch-level scalar of the run, so its chart lines up with
    the loss curves; Lightning's own logs it at the global step. `"step"` is Lightning's.
    """

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if self.logging_interval == "step":
            return
        stats = learning_rate_stats(self, trainer)
        if stats:
            for logger in trainer.loggers:
                logger.log_metrics(stats, step=trainer.current_epoch)
