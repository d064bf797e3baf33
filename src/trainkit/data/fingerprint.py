"""A fingerprint of the data a run saw: a hash of each split's arrays as the model gets them.

A run records it (summary.json, every checkpoint); a resume, eval.py and predict.py compare it
with the data they load, so a data file that changed (rows added, removed, reordered or edited,
which moves rows between the splits) is noticed instead of silently giving other numbers.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np


def data_fingerprint(datamodule: Any) -> dict[str, str] | None:
    """{split: "sha256:..."} of a data module holding its splits as tensors (`splits`), after
    loading, splitting and scaling; None for a data module that does not."""
    splits = getattr(datamodule, "splits", None)
    if not isinstance(splits, dict) or not splits:
        return None
    return {name: _digest(arrays) for name, arrays in sorted(splits.items())}


def _digest(arrays: Any) -> str:
    digest = hashlib.sha256()
    for tensor in arrays:
        array = np.ascontiguousarray(tensor.detach().cpu().numpy())
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(memoryview(array).cast("B"))
    return f"sha256:{digest.hexdigest()}"


def changed_splits(recorded: dict | None, now: dict | None, splits: list[str]) -> list[str]:
    """The splits among `splits` whose fingerprint differs (none when either side has none)."""
    if not isinstance(recorded, dict) or not now:
        return []
    return [s for s in splits if s in recorded and recorded[s] != now.get(s)]


def describe_change(recorded: dict, now: dict, splits: list[str]) -> str:
    """ "the test split (sha256:1a2b3c4d... when trained, sha256:5e6f... now)" for messages."""

    def short(value: Any) -> str:
        text = re.sub(r"[^\w:]", "?", str(value))  # read from a file: printable only
        return text[:15] + "..." if len(text) > 15 else text

    return ", ".join(
        f"the {s} split ({short(recorded.get(s))} when trained, {short(now.get(s))} now)"
        for s in splits
    )
