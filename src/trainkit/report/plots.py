"""Figures for TensorBoard, drawn with matplotlib's object API (no global pyplot state)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure


def confusion_figure(
    matrix: np.ndarray, class_names: Sequence[str] = (), title: str = ""
) -> Figure:
    """A confusion matrix with counts in the cells: rows are true classes, columns predictions."""
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    names = list(class_names) if len(class_names) == n else [str(i) for i in range(n)]
    size = 2.5 + 0.45 * n
    fig = Figure(figsize=(size, size), dpi=80)
    ax = fig.add_subplot()
    ax.imshow(matrix, cmap="Blues", vmin=0)
    ax.set_xticks(range(n), names, rotation=45 if n > 3 else 0, ha="right" if n > 3 else "center")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            color = "white" if matrix[i, j] > threshold else "black"
            ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", color=color, fontsize=8)
    fig.tight_layout()
    return fig


def lr_find_figure(
    lrs: Sequence[float], losses: Sequence[float], suggestion: float | None
) -> Figure:
    """Loss against learning rate from the range test, with the suggested rate marked."""
    fig = Figure(figsize=(5, 3.5), dpi=80)
    ax = fig.add_subplot()
    ax.plot(lrs, losses)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss (smoothed)")
    if suggestion is not None:
        ax.axvline(suggestion, color="red", linestyle="--", label=f"suggested {suggestion:.2e}")
        ax.legend()
    fig.tight_layout()
    return fig
