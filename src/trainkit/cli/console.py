"""Keep the console readable: one copy of each log line and no advice that does not apply."""

from __future__ import annotations

import logging
import warnings

# Warnings that do not apply to this template's runs.
IRRELEVANT_WARNINGS = (
    # Epoch-level values are logged at epoch end; the step logging interval does not limit them.
    r"The number of training batches .* is smaller than the logging interval",
    # Our in-memory loader turns shuffling off itself under overfit_batches.
    r"You requested to overfit but enabled train dataloader shuffling",
    # Epoch values come from torchmetrics, which sums their state across processes itself.
    r"It is recommended to use `self.log\(.*sync_dist=True\)` when logging on epoch level",
    # A deprecation inside Lightning itself, not in user code.
    r".*isinstance\(treespec, LeafSpec\)",
)


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "💡 Tip" not in str(record.msg)


def tidy_console() -> None:
    """Send Lightning's log lines through the root handlers (Hydra's console and file) once."""
    import lightning  # noqa: F401  (its import installs the handler removed below)

    root = logging.getLogger()
    lightning_logger = logging.getLogger("lightning")
    if root.handlers:
        for handler in list(lightning_logger.handlers):
            lightning_logger.removeHandler(handler)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).addFilter(_DropAdverts())
    for handler in root.handlers:
        handler.addFilter(_DropAdverts())
    for pattern in IRRELEVANT_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
