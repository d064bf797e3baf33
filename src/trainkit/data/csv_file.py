"""Your own data as a CSV file: numeric feature columns and one target column."""

from __future__ import annotations

import csv
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from trainkit.data.array_module import ArrayDataModule
from trainkit.data.arrays import ArrayData
from trainkit.errors import TrainkitError


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

    Class labels may be integers 0..C-1 or names (mapped to 0..C-1 in sorted order).
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise TrainkitError(
            f"data.path not found: {file} (relative paths are taken from {Path.cwd()})."
        )
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TrainkitError(f"{file} is not a readable UTF-8 CSV file ({exc}).") from None
    names = rows.pop(0) if header and rows else []
    width = len(names) if names else (len(rows[0]) if rows else 0)
    if rows and width < 2:
        separator = next((c for c in ";\t|" if c in (names or rows[0])[0]), None)
        guess = f" Is it separated by {separator!r}? " if separator else " "
        raise TrainkitError(
            f"{file} has a single column.{guess}trainkit reads comma-separated files with at "
            "least one feature column and a target column."
        )
    if not rows:
        raise TrainkitError(f"{file} has no data rows.")
    short = [i + 1 for i, row in enumerate(rows) if len(row) != width]
    if short:
        raise TrainkitError(f"{file}: data row {short[0]} has not {width} columns like the rest.")
    column = _column_index(target, names, width, file)
    features = [i for i in range(width) if i != column]
    x = np.array([[_number(row[i], i, r, names, file) for i in features] for r, row in
                  enumerate(rows)], dtype=np.float32)  # fmt: skip
    labels = [row[column].strip() for row in rows]
    empty = [r + 1 for r, v in enumerate(labels) if v == "" or v.lower() in ("nan", "na", "null")]
    if empty:
        raise TrainkitError(
            f"{file}: the target is missing in data rows {', '.join(map(str, empty[:5]))}"
            f"{' ...' if len(empty) > 5 else ''}; drop those rows or fill in their targets."
        )
    data = ArrayData(x=x, y=np.empty(0), classification=classification,
                     feature_names=[names[i] for i in features] if names else [])  # fmt: skip
    if not classification:
        data.y = np.array([_number(v, column, r, names, file) for r, v in enumerate(labels)],
                          dtype=np.float32).reshape(-1, 1)  # fmt: skip
    elif all(v.lstrip("-").isdigit() for v in labels):
        data.y = np.array([int(v) for v in labels], dtype=np.int64)
        data.class_names = [str(c) for c in range(int(data.y.max()) + 1)]
    else:
        data.class_names = sorted(set(labels))
        index = {name: i for i, name in enumerate(data.class_names)}
        data.y = np.array([index[v] for v in labels], dtype=np.int64)
    return data


def _column_index(target: str | int, names: list[str], width: int, file: Path) -> int:
    if isinstance(target, int) and -width <= target < width:
        return target % width
    if isinstance(target, str) and target in names:
        return names.index(target)
    columns = ", ".join(names) if names else f"0..{width - 1} (the file has no header)"
    raise TrainkitError(
        f"data.target {target!r} is not a column of {file}; its columns: {columns}."
    )


def _number(cell: str, column: int, row: int, names: list[str], file: Path) -> float:
    cell = cell.strip()
    if cell == "" or cell.lower() in ("nan", "na", "null"):
        return float("nan")  # reported with every other missing value before training
    try:
        return float(cell)
    except ValueError:
        name = names[column] if names else column
        raise TrainkitError(
            f"{file}: column {name!r} holds text ({cell!r} in data row {row + 1}); features "
            "must be numbers, so encode it first (e.g. one column per category)."
        ) from None
