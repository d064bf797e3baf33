"""torchmetrics internals: metric state set by hand, and states that keep their dtype."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torchmetrics import Metric


def mark_updated(metric: Metric) -> None:
    """Count `metric` as updated after its state was set by hand: `Metric._update_count`."""
    metric._update_count = max(metric._update_count, 1)


class PinnedDtypeMetric(Metric):
    """A Metric whose states in `pinned_dtypes` keep their dtype under Lightning's bf16-true."""

    pinned_dtypes: ClassVar[dict[str, torch.dtype]] = {}

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> PinnedDtypeMetric:
        """Metric's move and cast, then the pinned dtypes back: `Metric._apply`, `._defaults`."""
        super()._apply(fn, *args, **kwargs)
        for name, dtype in self.pinned_dtypes.items():
            setattr(self, name, getattr(self, name).to(dtype))
            self._defaults[name] = self._defaults[name].to(dtype)
        return self
