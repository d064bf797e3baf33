"""Your own data as a CSV file: numeric feature columns and one target column.

Its rows come from `files.read_rows`; `drop_empty_last` and `parse_numbers` also read
predict.py's input_csv, so a file is opened, decoded and checked the same way for training and
for predictions. Messages name lines as an editor counts them (line 1 is the first line of the
file, a header included).
"""

from __future__ import annotations

import difflib
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from trainkit.data.array_module import ArrayDataModule
from trainkit.data.arrays import ArrayData
from trainkit.data.files import read_rows
from trainkit.data.values import beyond_float32, class_indices, too_large
from trainkit.errors import TrainkitError

# Cells that mean "no value": NaN features (reported before training), missing targets.
MISSING = ("", "nan", "na", "null")


class CsvDataModule(ArrayDataModule):
    """Your own table: `data=csv data.path=my.csv data.target=label` (see conf/data/csv.yaml)."""

    def __init__(
        self,
        path: str,
        target: str | int = -1,
        classification: bool = True,
        header: bool = True,
        **kwargs: Any,
    ) -> None:
        reader = partial(read_csv, path, target, classification, header)
        super().__init__(source=reader, **kwargs)
        self.csv_path = path

    @property
    def name(self) -> str:
        return str(self.csv_path)


def read_csv(
    path: str, target: str | int = -1, classification: bool = True, header: bool = True
) -> ArrayData:
    """A CSV file: one row per sample, numeric feature columns and one target column.

    Class labels may be whole numbers 0..C-1 (1 and 1.0 are one class) or names (mapped to
    0..C-1 in sorted order).
    """
    file, lines, rows = read_rows(path, "data.path")
    rows, dropped = drop_empty_last(rows)
    if dropped and not header:
        raise TrainkitError(
            f"{file}: every line ends with a comma (an empty last column); remove the trailing "
            "commas, or give the file a header row (data.header=true) so the empty column is "
            "seen to have no name."
        )
    names = [cell.strip() for cell in rows.pop(0)] if header and rows else []
    lines = lines[1:] if names else lines
    _check_columns(file, names, rows, lines)
    width = len(names) or len(rows[0])
    column = _column_index(target, names, width, file)
    features = [i for i in range(width) if i != column]
    labels = column_labels(names, width)
    hint = "features must be numbers, so encode it first (e.g. one column per category)"
    x = parse_numbers(rows, lines, features, [labels[i] for i in features], file, hint)
    _refuse_overflow(x, lines, [labels[i] for i in features], file)
    data = ArrayData(x=x.astype(np.float32), y=np.empty(0), classification=classification,
                     feature_names=[names[i] for i in features] if names else [])  # fmt: skip
    cells = [row[column].strip() for row in rows]
    data.y, data.class_names = _targets(cells, lines, labels[column], file, classification)
    return data


# -- rows and cells of a CSV file (training data and predict.py's input_csv) -----------------------
def drop_empty_last(rows: list[list[str]]) -> tuple[list[list[str]], bool]:
    """Without a last column that is empty on every line (each line ending with a comma)."""
    dropped = False
    width = max(map(len, rows), default=0)
    while width > 1 and all(len(row) < width or not row[width - 1].strip() for row in rows):
        width, dropped = width - 1, True
        rows = [row[:width] for row in rows]
    return rows, dropped


def column_labels(names: list[str], width: int) -> list[str]:
    """How messages call each column: by its header name, else by its place."""
    if names:
        return [f"column {name!r}" for name in names]
    return [f"the {n}{_suffix(n)} column" for n in range(1, width + 1)]


def _suffix(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def show_lines(lines: list[int]) -> str:
    """Line numbers for a message: the first five, then how many more."""
    more = f" and {len(lines) - 5} more" if len(lines) > 5 else ""
    return ", ".join(map(str, lines[:5])) + more


def parse_numbers(
    rows: list[list[str]], lines: list[int], columns: Any, labels: list[str], file: Path, hint: str
) -> np.ndarray:
    """The cells of `columns` as float64, NaN where a value is missing; text raises with `hint`."""
    values = np.full((len(rows), len(labels)), np.nan)
    for r, row in enumerate(rows):
        for j, c in enumerate(columns):
            cell = row[c].strip()
            if cell.lower() in MISSING:
                continue
            try:
                values[r, j] = float(cell)
            except ValueError:
                raise TrainkitError(
                    f"{file}: {labels[j]} holds text ({cell!r} on line {lines[r]}); {hint}."
                ) from None
    return values


def _refuse_overflow(values: np.ndarray, lines: list[int], labels: list[str], file: Path) -> None:
    bad = np.argwhere(beyond_float32(values))
    if len(bad):
        r, j = bad[0]
        raise TrainkitError(too_large(f"{file}: {labels[j]} on line {lines[r]}", values[r, j]))


# -- the table's shape and its target ---------------------------------------------------------
def _check_columns(file: Path, names: list[str], rows: list[list[str]], lines: list[int]) -> None:
    """A table of at least two comma-separated, named columns and one cell per column."""
    if not rows and not names:
        raise TrainkitError(f"{file} is empty; give a header row and one row per sample.")
    first = names or rows[0]
    separator = next((s for s in ";\t|" if any(s in cell for cell in first)), None)
    if len(first) < 2 or separator:
        guess = f" Is it separated by {separator!r}? " if separator else " "
        shape = "has a single column." if len(first) < 2 else f"holds {separator!r} in its cells."
        raise TrainkitError(
            f"{file} {shape}{guess}trainkit reads comma-separated files with at least one "
            "feature column and a target column ('.' as the decimal mark)."
        )
    unnamed = [i + 1 for i, name in enumerate(names) if not name]
    if unnamed:
        raise TrainkitError(
            f"{file}: column {unnamed[0]} has no name in the header; name it, or drop it if it "
            "is a row index (pandas: df.to_csv(path, index=False))."
        )
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        places = [i + 1 for i, n in enumerate(names) if n == twice]
        raise TrainkitError(
            f"{file}: the header names columns {places[0]} and {places[1]} both {twice!r}; give "
            "every column its own name."
        )
    if not rows:
        raise TrainkitError(f"{file} has a header ({', '.join(names)}) but no data rows.")
    width = len(first)
    ragged = [i for i, row in enumerate(rows) if len(row) != width]
    if ragged:
        r = ragged[0]
        against = "the header" if names else f"line {lines[0]}"
        raise TrainkitError(
            f"{file}: line {lines[r]} has {len(rows[r])} cells but {against} has {width}; every "
            f"line needs one cell per column (lines that differ: "
            f"{show_lines([lines[i] for i in ragged])})."
        )


def _column_index(target: str | int, names: list[str], width: int, file: Path) -> int:
    """The place of data.target among the columns, or an error that lists them."""
    indices = f"0..{width - 1}, or -1 for the last"
    if isinstance(target, int) and -width <= target < width:
        index = target % width
        if str(target) in names and names.index(str(target)) != index:
            other = index - width if target >= 0 else index
            raise TrainkitError(
                f"data.target={target} is ambiguous in {file}: as an index (from 0) it is column "
                f"{names[index]!r}, but another column is named '{target}'. Write "
                f"data.target='\"{target}\"' for that name, or data.target={other} for the index."
            )
        return index
    if isinstance(target, str) and target in names:
        return names.index(target)
    if isinstance(target, int):
        raise TrainkitError(f"data.target={target}, but {file} has {width} columns: {indices}.")
    if not names:
        raise TrainkitError(
            f"data.target={target!r} names a column, but data.header=false (the file has no "
            f"names): give its index, {indices}."
        )
    close = difflib.get_close_matches(target, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    if not close and all(is_number(n) for n in names):
        hint = " Its first line holds numbers: if it has no header, set data.header=false."
    raise TrainkitError(
        f"data.target {target!r} is not a column of {file}; its columns: {', '.join(names)}.{hint}"
    )


def is_number(cell: str) -> bool:
    """Whether a cell reads as a number (nan and inf included)."""
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _targets(
    cells: list[str], lines: list[int], label: str, file: Path, classification: bool
) -> tuple[np.ndarray, list[str]]:
    """Class indices and names, or float32 values (N, 1), from the target column's cells."""
    missing = [lines[r] for r, v in enumerate(cells) if v.lower() in MISSING]
    if len(missing) == len(cells):
        raise TrainkitError(
            f"{file}: the target, {label}, is empty on every line; set data.target to the "
            "column that holds the targets."
        )
    if missing:
        raise TrainkitError(
            f"{file}: the target ({label}) is missing on lines {show_lines(missing)}; drop those "
            "rows or fill in their targets."
        )
    if not classification:
        hint = "a regression target must be a number (class names: data.classification=true)"
        y = parse_numbers([[c] for c in cells], lines, [0], [label], file, hint)
        _refuse_overflow(y, lines, [label], file)
        return y.astype(np.float32), []
    text = [r for r, v in enumerate(cells) if not is_number(v)]
    if not text:
        values = np.array([float(v) for v in cells])
        odd = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
        if len(odd):
            raise TrainkitError(
                f"{file}: {label} holds {cells[odd[0]]!r} on line {lines[odd[0]]}, but class "
                "labels are whole numbers 0..C-1 (or names); for values to predict set "
                "data.classification=false."
            )
        return class_indices(values.astype(np.int64), str(file), label, lines)
    if len(text) < len(cells):
        number = next(r for r, v in enumerate(cells) if is_number(v))
        raise TrainkitError(
            f"{file}: {label} mixes numbers ({cells[number]!r} on line {lines[number]}) and text "
            f"({cells[text[0]]!r} on line {lines[text[0]]}); class labels must be all numbers "
            "0..C-1 or all names."
        )
    return class_indices(np.array(cells), str(file), label, lines)
