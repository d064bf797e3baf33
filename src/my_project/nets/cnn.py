"""A small CNN: conv -> ReLU -> max-pool blocks, then a linear classifier."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class SimpleCNN(nn.Module):
    """Conv blocks that halve the image each time; the head's width is inferred, not hand-set."""

    def __init__(
        self,
        in_channels: int,
        image_size: int | Sequence[int],
        num_classes: int,
        channels: Sequence[int] = (16, 32),
        kernel_size: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
        if min(height, width) < 2 ** len(channels):
            raise ValueError(
                f"{len(channels)} pooling blocks need images of at least {2 ** len(channels)} "
                f"pixels a side, got {height}x{width}; use fewer channels entries"
            )
        blocks: list[nn.Module] = []
        prev = in_channels
        for out in channels:
            blocks += [
                nn.Conv2d(prev, out, kernel_size, padding=kernel_size // 2),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            prev = out
        self.features = nn.Sequential(*blocks)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, in_channels, height, width)).numel()
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
