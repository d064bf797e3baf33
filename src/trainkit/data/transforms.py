"""Image augmentation for whole batches, in plain torch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_shift(
    x: Tensor, generator: torch.Generator, max_shift: int, fill: Tensor | float = 0.0
) -> Tensor:
    """Translate each image of an (N, C, H, W) batch by its own random (dy, dx).

    Offsets are drawn from [-max_shift, max_shift]; pixels shifted in from outside get `fill`,
    a number or one value per channel.
    """
    if max_shift <= 0:
        return x
    n, c, h, w = x.shape
    fill = torch.as_tensor(fill, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)
    padded = F.pad(x - fill, (max_shift,) * 4) + fill  # zero padding, moved to the fill value
    rows = (offsets[0][:, None] + torch.arange(h)).to(x.device)  # (N, H)
    cols = (offsets[1][:, None] + torch.arange(w)).to(x.device)  # (N, W)
    batch = torch.arange(n, device=x.device)[:, None, None]
    # advanced indices on both sides of a slice put the indexed dims first: (N, H, W, C)
    shifted = padded[batch, :, rows[:, :, None], cols[:, None, :]]
    return shifted.permute(0, 3, 1, 2).contiguous()
