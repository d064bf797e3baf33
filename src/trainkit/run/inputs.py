"""Raw inputs to predict from: a CSV of feature rows, read so that no guess passes for a result.

- The file is read like a training CSV (one reader: UTF-8, a byte-order mark ignored, other
  encodings, folders and unreadable files refused with the fix; an empty last column on every
  line, i.e. a trailing comma, is dropped).
- Each sample keeps the line of input_csv it was read from, 1-based as an editor counts lines
  (a header is line 1): predictions.csv names it in its `input_line` column.
- input_header (conf/predict.yaml) says what line 1 is: true = a header (skipped; only its
  count of cells is checked), false = a sample, auto = detected as follows.
- auto: line 1 is a header when it equals the training data's feature names (numeric names too),
  when none of its cells is a number, or, for data without names, when it numbers the columns
  0..F-1 or 1..F (F >= 2) as pandas writes them. A header that names the training columns in
  another order, or other columns as well, is refused.
- auto, a line 1 of numbers only: it is a sample, unless it reads like numeric column names
  such as wavelengths: F >= 3 whole numbers (400 or 400.0), strictly increasing or strictly
  decreasing, while line 2 does not read so (or there is no line 2). Then it is refused, not
  guessed: the error shows its values and asks for input_header=true or input_header=false.
- A row with a missing, NaN or infinite value, or one too large for float32 (1e308), is
  refused, not predicted: the error names its lines. Filling a value in would make the
  prediction a guess.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from trainkit.data.csv_file import (
    MISSING,
    column_labels,
    drop_empty_last,
    is_number,
    parse_numbers,
    show_lines,
)
from trainkit.data.files import read_rows
from trainkit.data.values import beyond_float32
from trainkit.errors import TrainkitError


def read_inputs(
    path: Path, datamodule: Any, header: str | bool = "auto"
) -> tuple[Tensor, list[int]]:
    """Raw inputs from a CSV, shaped and scaled like the training data, and each one's line;
    `header` is input_header: auto, True (line 1 is a header) or False (line 1 is a sample)."""
    if header not in ("auto", True, False):
        shown = "null" if header is None else repr(header)
        raise TrainkitError(
            f"input_header must be auto, true or false, got {shown}: e.g. input_header=true "
            "when line 1 of input_csv names the columns."
        )
    file, lines, rows = read_rows(path, "input_csv")
    rows, _ = drop_empty_last(rows)
    shape = tuple(datamodule.splits["train"][0].shape[1:])
    width = math.prod(shape)
    names = list(getattr(datamodule, "feature_names", None) or [])
    if rows and _first_is_header(rows, lines, names, width, file, header):
        print(f"{file}: line {lines[0]} is a header, not a sample.")
        rows, lines = rows[1:], lines[1:]
    if not rows:
        raise TrainkitError(f"{file} has no rows to predict; give one row of {width} numbers each.")
    expected = f"every row must hold {width} numbers (the training inputs' shape {shape})"
    for row, line in zip(rows, lines, strict=True):
        if len(row) != width:
            raise TrainkitError(f"{file}: line {line} has {len(row)} columns, but {expected}.")
    labels = column_labels(names if len(names) == width else [], width)
    values = parse_numbers(rows, lines, range(width), labels, file, expected)
    _refuse_invalid(values, rows, lines, labels, file)
    x = values.astype(np.float32).reshape(len(rows), *shape)
    if datamodule.feature_mean is not None:
        x = (x - datamodule.feature_mean) / datamodule.feature_std
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), lines


def _first_is_header(
    rows: list[list[str]], lines: list[int], names: list[str], width: int, file: Path, header: Any
) -> bool:
    """Whether line 1 is a header, as input_header says or, for auto, as it reads."""
    cells = [c.strip() for c in rows[0]]
    where = f"{file}: line {lines[0]}"
    if header is True:
        if len(cells) != width:
            raise TrainkitError(
                f"{where} is a header (input_header=true) of {len(cells)} columns, but the model "
                f"takes {width} inputs; give one name per input."
            )
        return True
    if header is False:
        return False
    if _is_header(cells, names, width, where):
        return True
    following = [c.strip() for c in rows[1]] if len(rows) > 1 else None
    if _reads_as_names(cells, width) and not (following and _reads_as_names(following, width)):
        unlike = f", unlike line {lines[1]}" if following else ""
        raise TrainkitError(
            f"{where} holds only whole numbers in order ({_few(cells)}){unlike}: column names "
            "(such as wavelengths) or a sample? Say which: input_header=true skips it as a "
            "header, input_header=false predicts it as a sample."
        )
    return False


def _reads_as_names(cells: list[str], width: int) -> bool:
    """Whether cells read like numeric column names: 3 or more whole numbers, one per input, in
    strictly increasing or strictly decreasing order."""
    if len(cells) != width or width < 3 or not all(is_number(c) for c in cells):
        return False
    values = np.array([float(c) for c in cells])
    if not (np.isfinite(values).all() and (values == np.round(values)).all()):
        return False
    steps = np.diff(values)
    return bool((steps > 0).all() or (steps < 0).all())


def _is_header(cells: list[str], names: list[str], width: int, where: str) -> bool:
    """Whether the first row names the columns (see the module's notes); a header that does not
    fit the training columns raises."""
    numbered = [str(i) for i in range(width)], [str(i) for i in range(1, width + 1)]
    if cells == names or (width >= 2 and cells in numbered):
        return True
    trained = f"the model's {width} inputs" + (f" ({_few(names)})" if names else "")
    if names and set(names) <= set(cells):
        extra = [c for c in cells if c not in names]
        problem = f"columns the model was not trained on ({_few(extra)})" if extra else None
        raise TrainkitError(
            f"{where} is a header with {problem or 'the training columns in another order'}; "
            f"give exactly {trained}, in that order."
        )
    numbers = [is_number(cell) for cell in cells]
    text = [c for c, n in zip(cells, numbers, strict=True) if not n and c.lower() not in MISSING]
    if not text:
        return False  # numbers and missing values: a sample
    if any(numbers):
        raise TrainkitError(
            f"{where} mixes numbers and text ({text[0]!r}): a sample must be all numbers, and a "
            "header must name every column (or repeat the training data's column names)."
        )
    if len(cells) != width or (names and set(cells) & set(names)):
        raise TrainkitError(
            f"{where} is a header naming {_few(cells)}; give exactly {trained}, in that order."
        )
    return True


def _few(names: list[str]) -> str:
    return ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")


def _refuse_invalid(
    values: np.ndarray, rows: list[list[str]], lines: list[int], labels: list[str], file: Path
) -> None:
    """Rows with a missing, NaN, infinite or float32-overflowing value: one error naming them."""
    big = beyond_float32(values)
    bad = ~np.isfinite(values) | big
    where = np.flatnonzero(bad.any(axis=1))
    if not len(where):
        return
    r = int(where[0])
    c = int(np.flatnonzero(bad[r])[0])
    shown = repr(rows[r][c].strip()) if rows[r][c].strip() else "an empty cell"
    shown += " (too large for float32, at most about 3.4e+38)" if big[r, c] else ""
    raise TrainkitError(
        f"{file}: {len(where)} of {len(rows)} rows hold a missing, NaN or infinite value, or one "
        f"too large for float32, so they are not predicted: lines "
        f"{show_lines([lines[i] for i in where])} (line {lines[r]}: {shown} in {labels[c]}). "
        "Fill in or drop those rows; a prediction from a made-up value would be a guess."
    )
