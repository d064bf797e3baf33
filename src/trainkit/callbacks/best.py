"""checkpoints/best.ckpt: the best epoch's weights, kept right across a resume."""

from __future__ import annotations

import os
import sys
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from trainkit.callbacks.history import MetricHistory
from trainkit.checkpoints.atomic import damage


class BestCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, kept right across a resume.

    A run directory moved or copied elsewhere resumes with its best score, and its best.ckpt
    path moved along (checkpoints store absolute paths; Lightning would drop the score, and the
    next epoch would overwrite best.ckpt with a worse model). A best.ckpt that a resume finds
    damaged or missing is said in one line and forgotten: the run goes on from the checkpoint it
    resumes, writes best.ckpt again at the next epoch that improves, and the epochs before the
    resume no longer count for the run's best epoch (MetricHistory).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fresh_kth = self.kth_value.clone()
        self._forgotten: str | None = None

    @property
    def state_key(self) -> str:
        """ModelCheckpoint's own key, so a run's checkpoints resume with either class."""
        return "ModelCheckpoint" + super().state_key.removeprefix(type(self).__qualname__)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old = state_dict.get("dirpath")
        if old and self.dirpath and old != self.dirpath:
            state_dict = moved(state_dict, str(old), str(self.dirpath))
        super().load_state_dict(state_dict)
        problem = damage(self.best_model_path) if self.best_model_path else None
        if problem:
            self._forgotten = f"{self.best_model_path} is {problem}"
            self._forget()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        if self._forgotten is None:
            return
        if trainer.is_global_zero:
            print(
                f"{self._forgotten}: the best epoch so far is forgotten; training goes on from "
                f"{trainer.ckpt_path} and writes best.ckpt again at the next epoch that improves.",
                file=sys.stderr,
            )
        for history in trainer.callbacks:
            if isinstance(history, MetricHistory):  # its best must be in best.ckpt
                history.forget_before(trainer.current_epoch)
        self._forgotten = None

    def _forget(self) -> None:
        """Start over as if no epoch had been judged yet."""
        self.best_model_score = None
        self.best_model_path = self.kth_best_model_path = ""
        self.best_k_models = {}
        self.kth_value = self._fresh_kth.clone()


def moved(state: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """ModelCheckpoint's state with the paths below folder `old` moved below `new`."""

    def there(path: Any) -> Any:
        if isinstance(path, str) and (path == old or path.startswith(old + os.sep)):
            return new + path[len(old) :]
        return path

    out = {**state, "dirpath": new}
    for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
        if key in out:
            out[key] = there(out[key])
    if isinstance(out.get("best_k_models"), dict):
        out["best_k_models"] = {there(k): v for k, v in out["best_k_models"].items()}
    return out
