"""checkpoints/last.ckpt: the latest complete training state, from which a resume is exact."""

from __future__ import annotations

import random
import signal
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Checkpoint

from trainkit.checkpoints.interrupt import STOP, TrainingInterrupted
from trainkit.compat.lightning import accumulating, is_last_batch, unready_epoch


def rng_state() -> dict[str, Any]:
    """Every global random generator's state, in types that load with weights_only=True."""
    version, words, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": (version, list(words), gauss),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Put back what `rng_state` saved."""
    torch.set_rng_state(state["torch"])
    version, words, gauss = state["python"]
    random.setstate((version, tuple(words), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():  # as many GPUs as this machine has
        for device, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, device)


class LastCheckpoint(Checkpoint):
    """Keep `dirpath/filename.ckpt` at the latest state that a resume can continue exactly.

    It is written once an epoch is wholly done (validation, early stopping and the plateau
    scheduler's step included, i.e. when the next epoch starts), at the end of training, and
    when Ctrl-C or SIGTERM asks the run to stop: then after the current batch, mid-epoch. The
    checkpoint holds the random generators' states too. It is written through the trainer's
    CheckpointIO, which the kit's Trainer gets as AtomicCheckpointIO (see `run.train.build`):
    beside its target first, so a kill while saving never leaves a truncated last.ckpt behind.
    """

    def __init__(self, dirpath: str, filename: str = "last") -> None:
        self.path = Path(dirpath) / f"{filename}.ckpt"
        self.last_model_path = ""
        self.frozen = False
        self._saved_step = -1
        self._rng_to_restore: dict[str, Any] | None = None
        self._owns_signals = False
        self._epoch_start = False

    def freeze(self) -> None:
        """Stop writing: the weights are no longer trustworthy (e.g. a non-finite loss)."""
        self.frozen = True

    def save(self, trainer: L.Trainer, epoch_start: bool = False) -> None:
        if self.frozen or trainer.fast_dev_run:  # a debug pass leaves no checkpoint behind
            return
        self._epoch_start = epoch_start
        try:  # whole or not at all: the trainer's CheckpointIO is AtomicCheckpointIO
            trainer.save_checkpoint(self.path, weights_only=False)
        finally:
            self._epoch_start = False
        self.last_model_path = str(self.path)
        self._saved_step = trainer.global_step

    # -- the signal handler is in charge while batches run ----------------------------------
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._owns_signals = not STOP.installed
        STOP.install()  # over Lightning's own SIGTERM handler, which would stop without saving
        STOP.deferring = True
        self._saved_step = trainer.global_step

    def _restore_rng(self, *args: Any) -> None:
        """`on_train_batch_start` of the first batch after a resume, and of no other batch."""
        if self._rng_to_restore is not None:
            set_rng_state(self._rng_to_restore)
            self._rng_to_restore = None
        del self.on_train_batch_start  # no per-step hook for the rest of the run

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        # Under DDP the processes agree on a stop on logging steps only: agreeing is a collective
        # call, which would cost a GPU a host sync every step.
        if trainer.world_size > 1 and trainer.global_step % trainer.log_every_n_steps:
            return
        if not self._stop_requested(trainer):
            return
        # After the epoch's last batch, stop once validation and the epoch's end have run;
        # while gradients accumulate, stop after the next optimizer step.
        if is_last_batch(trainer) or accumulating(trainer):
            return
        self.save(trainer)
        self._stop()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step > self._saved_step:
            self.save(trainer, epoch_start=True)
        if self._stop_requested(trainer):
            self._stop()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Training ended on its own; a stop request that came during its last epoch is
        # answered by this save, and the run goes on to test the best checkpoint.
        self.save(trainer)
        STOP.deferring = False

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        STOP.deferring = False

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        STOP.deferring = False
        if self._owns_signals:
            STOP.restore()
            self._owns_signals = False

    def _stop_requested(self, trainer: L.Trainer) -> bool:
        requested = STOP.requested
        if trainer.world_size > 1:  # every rank must stop at the same batch
            requested = trainer.strategy.reduce_boolean_decision(requested, all=False)
            if requested and STOP.signum is None:
                STOP.signum = int(signal.SIGTERM)  # a signal reached another rank
        return requested

    def _stop(self) -> None:
        STOP.deferring = False
        raise TrainingInterrupted(STOP.signum)

    # -- what goes into every checkpoint ------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"rng": rng_state()}

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if self._epoch_start:
            # Lightning counts the new epoch as "ready" just before on_train_epoch_start; undone,
            # the checkpoint reads as "previous epoch wholly done", which Lightning resumes
            # exactly (a "ready" epoch would resume with the old epoch's batch counters).
            unready_epoch(checkpoint)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._rng_to_restore = state_dict.get("rng")
        if self._rng_to_restore is not None:
            self.on_train_batch_start = self._restore_rng
