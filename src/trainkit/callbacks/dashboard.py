"""What TensorBoard shows beyond the epoch scalars the task logs, and a line per epoch."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from trainkit.report.tensorboard import add_rgb_images, scalar_layout


class Dashboard(L.Callback):
    """The TensorBoard dashboard of a run, and the console line of each epoch.

    - a Custom Scalars layout: train, val and test of the loss and each metric on one chart;
    - confusion matrices (counts and row-normalised) and, for binary tasks, a PR curve: of
      validation when the monitored metric improves (so the latest image is the best epoch's),
      and of the test;
    - weight and gradient histograms every `histograms_every_n_epochs` epochs (0: never) and the
      net's graph (`graph`), both off by default;
    - `console`: a plain line per epoch (epoch, losses, the monitored metric, learning rate,
      elapsed time). "auto": when there is no progress bar or the output is not a terminal.

    Everything goes in at step = epoch number, as the task's scalars do. `figure_seconds` is
    the time spent drawing and logging figures (the benchmark reads it).
    """

    def __init__(
        self,
        monitor: str = "val/loss",
        mode: str = "min",
        figures: bool = True,
        histograms_every_n_epochs: int = 0,
        graph: bool = False,
        console: bool | str = "auto",
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if not isinstance(histograms_every_n_epochs, int) or histograms_every_n_epochs < 0:
            raise ValueError(
                "histograms_every_n_epochs must be a whole number >= 0 (0: no histograms), "
                f"got {histograms_every_n_epochs!r}"
            )
        if console not in (True, False, "auto"):
            raise ValueError(f"console must be true, false or auto, got {console!r}")
        self.monitor, self.mode = monitor, mode
        self.figures = figures
        self.every = histograms_every_n_epochs
        self.graph = graph
        self.console = console
        self.best: float | None = None  # the best monitored value so far
        self.figure_seconds = 0.0
        self.figures_logged = 0  # epochs (and tests) whose figures were logged
        self._graph_done = False
        self._histogram_grads = False
        self._start = 0.0
        self._epoch_lr: float | None = None
        self._ended: int | None = None  # the epoch whose console line is still to be printed

    # -- where things go ----------------------------------------------------------------------
    @staticmethod
    def writers(trainer: L.Trainer) -> list[Any]:
        """The SummaryWriters of the run's TensorBoard loggers (rank 0 only)."""
        if trainer.global_rank != 0:
            return []
        return [lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]

    # -- start -------------------------------------------------------------------------------
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()
        writers = self.writers(trainer)
        if not writers:
            return
        names = getattr(pl_module, "METRIC_NAMES", ("loss",))
        scored = getattr(pl_module, "SCORED_STAGES", ())
        per_class = hasattr(pl_module, "detail_scalars") and hasattr(pl_module, "num_classes")
        layout = scalar_layout(names, per_class=per_class, scored=bool(scored))
        for writer in writers:
            writer.add_custom_scalars(layout)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.graph and not self._graph_done:
            self._graph_done = True
            self._log_graph(trainer, pl_module, batch)

    def _log_graph(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any) -> None:
        """The net traced on two inputs of the first batch, in eval mode and on a forked random
        state, so the training run is exactly the one it would be without the graph."""
        net = getattr(pl_module, "net", pl_module)
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        if not isinstance(x, torch.Tensor):
            return
        devices = [x.device.index or 0] if x.device.type == "cuda" else []
        was_training = net.training
        net.eval()
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                for writer in self.writers(trainer):
                    writer.add_graph(net, x[:2])
        except Exception as error:  # a net torch.jit cannot trace: the run goes on without it
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            print(f"WARNING: no graph in TensorBoard: the net could not be traced ({first})")
        finally:
            net.train(was_training)

    # -- each epoch --------------------------------------------------------------------------
    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._print_line(trainer)
        optimizers = trainer.optimizers
        self._epoch_lr = optimizers[0].param_groups[0]["lr"] if optimizers else None
        self._histogram_grads = self._histograms_due(trainer)

    def _histograms_due(self, trainer: L.Trainer) -> bool:
        return self.every > 0 and trainer.current_epoch % self.every == 0

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any
    ) -> None:
        if not self._histogram_grads:
            return
        self._histogram_grads = False  # the epoch's first step
        for writer in self.writers(trainer):
            for name, param in pl_module.named_parameters():
                if param.grad is not None:
                    writer.add_histogram(f"gradients/{name}", param.grad, trainer.current_epoch)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._histograms_due(trainer):
            for writer in self.writers(trainer):
                for name, param in pl_module.named_parameters():
                    writer.add_histogram(f"weights/{name}", param.detach(), trainer.current_epoch)
        # the task computes the epoch's training values after this hook: printed at the next
        # epoch's start (or the end of training)
        self._ended = trainer.current_epoch

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        value = float(value) if value is not None else None
        if value is not None and not math.isfinite(value):
            return
        if value is not None and self.best is not None:
            better = value < self.best if self.mode == "min" else value > self.best
            if not better:
                return
        if value is not None:  # not there (yet): figures each epoch, nothing to compare
            self.best = value
        if self.figures:
            self._log_figures(trainer, pl_module, "val", trainer.current_epoch)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.figures:
            step_of = getattr(pl_module, "epoch_step", None)
            self._log_figures(trainer, pl_module, "test", step_of("test") if step_of else 0)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._print_line(trainer)

    # -- figures -----------------------------------------------------------------------------
    def _log_figures(
        self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str, step: int
    ) -> None:
        details = getattr(pl_module, "epoch_details", {}).get(stage) or {}
        writers = self.writers(trainer)
        if not details or not writers:
            return
        start = time.perf_counter()
        matrix = details.get("confusion")
        if matrix is not None:
            from trainkit.report.plots import confusion_images  # Pillow: only when drawing

            names = getattr(trainer.datamodule, "class_names", None) if trainer.datamodule else None
            weights = getattr(pl_module, "weights_epoch", None)
            title = f"val, epoch {step}" if stage == "val" else "test"
            if stage == "test" and weights is not None:
                title = f"test of the checkpoint of epoch {weights}"
            images = confusion_images(matrix.numpy(), names or (), title=title)
            views = {
                f"{stage}/confusion_matrix": images["counts"],
                f"{stage}/confusion_matrix_normalized": images["recall"],
            }
            for writer in writers:
                add_rgb_images(writer, views, step)
        scores, labels = details.get("scores"), details.get("labels")
        if scores is not None and labels is not None and scores.ndim == 1:  # binary
            for writer in writers:
                writer.add_pr_curve(
                    f"{stage}/pr_curve", labels.cpu().numpy(), scores.cpu().numpy(), step
                )
        self.figure_seconds += time.perf_counter() - start
        self.figures_logged += 1

    # -- the console line --------------------------------------------------------------------
    def _console_wanted(self, trainer: L.Trainer) -> bool:
        if self.console == "auto":
            return trainer.progress_bar_callback is None or not sys.stdout.isatty()
        return bool(self.console)

    def _print_line(self, trainer: L.Trainer) -> None:
        """The console line of the epoch that ended last, once."""
        epoch, self._ended = self._ended, None
        if epoch is None or trainer.global_rank != 0 or not self._console_wanted(trainer):
            return
        metrics = trainer.callback_metrics

        def shown(key: str) -> str | None:
            value = metrics.get(key)
            return None if value is None else f"{key} {float(value):.4g}"

        last = trainer.max_epochs - 1 if (trainer.max_epochs or -1) > 0 else None
        parts = [f"epoch {epoch}" + (f"/{last}" if last is not None else "")]
        parts += [p for p in (shown("train/loss"), shown("val/loss")) if p]
        if self.monitor not in ("train/loss", "val/loss") and shown(self.monitor):
            parts.append(str(shown(self.monitor)))
        if self.best is not None:
            parts.append(f"(best {self.best:.4g})")
        if self._epoch_lr is not None:
            parts.append(f"lr {self._epoch_lr:.3g}")
        parts.append(f"{time.perf_counter() - self._start:.1f} s")
        print("  ".join(parts), flush=True)

    # -- resume ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best", self.best)
