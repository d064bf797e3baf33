"""Draw the classifier's confusion matrix into TensorBoard as an image."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger

from trainkit.report.plots import confusion_figure


class ConfusionMatrixLogger(L.Callback):
    """After each validation epoch and after testing, log `{stage}/confusion_matrix` as a figure.

    Reads the matrix a task leaves in `confusion_results`; silent for tasks without one.
    """

    def _log(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        matrix = getattr(pl_module, "confusion_results", {}).get(stage)
        if matrix is None or trainer.sanity_checking:
            return
        names = getattr(trainer.datamodule, "class_names", []) if trainer.datamodule else []
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                title = f"val, epoch {trainer.current_epoch}" if stage == "val" else "test"
                figure = confusion_figure(matrix.numpy(), names, title=title)
                logger.experiment.add_figure(
                    f"{stage}/confusion_matrix", figure, global_step=trainer.global_step
                )

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log(trainer, pl_module, "val")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log(trainer, pl_module, "test")
