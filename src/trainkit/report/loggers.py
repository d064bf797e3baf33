"""Lightning's TensorBoardLogger, with epoch-level values at step = epoch number."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger as _TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only


class TensorBoardLogger(_TensorBoardLogger):
    """Lightning's TensorBoardLogger, but what the task logs once per epoch goes in at step =
    epoch number (`log_epoch_metrics`), so runs of any batch or data size line up epoch by epoch.

    Lightning flushes what `self.log` logged at the global step, with an `epoch` value beside;
    the keys the task already wrote at their epoch are left out of that flush (so no curve has
    two x axes), and so is `epoch` (the x axis says it). Anything else a module logs, e.g. per
    step, goes in as Lightning logs it.

    `log_hyperparams` writes nothing: each run's HPARAMS row is written when it ends
    (trainkit.report.tensorboard), with its settings and final metrics; Lightning's would fix
    the HPARAMS columns to one run's for every run in the logdir.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._epoch_keys: set[str] = set()

    @rank_zero_only
    def log_epoch_metrics(self, metrics: Mapping[str, float], epoch: int) -> None:
        """Values of one epoch, at step `epoch`."""
        self._epoch_keys.update(metrics)
        super().log_metrics(dict(metrics), step=epoch)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        kept = {k: v for k, v in metrics.items() if k not in self._epoch_keys and k != "epoch"}
        if kept:
            super().log_metrics(kept, step=step)

    @rank_zero_only
    def log_hyperparams(self, params: Any, metrics: Any = None) -> None:
        """Nothing here: see the class's note."""
