"""Arrays of any shape: read from files safely, checked, and described for the net's config.

Light on purpose (numpy only; torch for .pt files): config resolvers call it before a run, to
read sizes such as ${data.num_features} off a file. The data module is in array_module.py.

A file holds inputs X, (N, ...), and targets y, (N,) or (N, k):
- `.npz` with arrays `X` and `y` (np.savez("my.npz", X=X, y=y));
- `.npy`: `X.npy` beside `y.npy` (or any `*X*.npy` beside its `*y*.npy`, or data.target_path);
- `.pt` with {"X": tensor, "y": tensor} or (X, y), loaded with weights_only=True.
Integer, boolean or text targets are classes, float targets are values (data.task overrides);
a classifier on float targets that hold only whole numbers (0.0 and 1.0) is told to set
data.task=classification.
Nothing in a file is unpickled: .npy/.npz load with allow_pickle=False.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainkit.data.files import folder_contents, locate, unreadable
from trainkit.data.values import check_float32, class_indices, relabel
from trainkit.errors import TrainkitError


@dataclass
class ArrayData:
    """A whole data set as arrays: what `InMemoryDataModule.load` returns."""

    x: np.ndarray  # float32 inputs, (N, ...): (N, F) tables, (N, C, L) sequences, (N, C, H, W)
    y: np.ndarray  # int64 class indices (N,) or float32 targets (N, k)
    classification: bool
    class_names: list[str] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    # rows that form the test split, for data sets that come with an official one
    test_mask: np.ndarray | None = None


TASKS = ("auto", "classification", "regression")
# What `data=arrays` tells the net's config, by interpolation: ${data.num_features}, ...
SHAPE_KEYS = (
    "num_features", "in_channels", "length", "height", "width", "image_size", "num_classes",
    "num_targets",
)  # fmt: skip


# -- reading files ------------------------------------------------------------------------------
def read_arrays(path: str | Path, target_path: str | Path | None = None) -> tuple[Any, Any]:
    """(X, y) as stored in `path` (numpy arrays), or a TrainkitError that says what is wrong."""
    file = locate(path, "data.path")
    if file.is_dir():
        lacking = [n for n in ("X.npy", "y.npy") if not (file / n).is_file()]
        if lacking:
            raise TrainkitError(
                f"data.path={file} is a folder without {' and '.join(lacking)} (it holds "
                f"{folder_contents(file, ('.npy', '.npz', '.pt', '.pth'))}); save X.npy and "
                "y.npy in it, or point data.path at an .npz, .npy or .pt file."
            )
        return _npy(file / "X.npy"), _npy(file / "y.npy")
    if not file.is_file():
        raise TrainkitError(f"data.path={file} is not a regular file (a pipe or device?).")
    suffix = file.suffix.lower()
    if suffix == ".npz":
        return _npz(file)
    if suffix == ".npy":
        return _npy(file), _npy(_target_file(file, target_path))
    if suffix in (".pt", ".pth"):
        return _torch_file(file)
    raise TrainkitError(
        f"data.path={file}: trainkit reads .npz (arrays X and y), .npy (X.npy beside y.npy) "
        "or .pt ({'X': tensor, 'y': tensor}) files; for a table in a CSV file use data=csv."
    )


def _unreadable(file: Path, exc: BaseException) -> TrainkitError:
    if isinstance(exc, OSError) and exc.errno is not None:  # the system refused, not the format
        return unreadable(file, exc, "data.path")
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if "allow_pickle" in text or "Object arrays" in text:
        return TrainkitError(
            f"{file} holds Python objects (an object array), which trainkit does not unpickle; "
            "save numeric arrays, e.g. np.savez(path, X=X.astype('float32'), y=y)."
        )
    return TrainkitError(f"{file} cannot be read as an array file ({text[:120]}); save it again.")


def _npy(file: Path) -> np.ndarray:
    try:
        return np.load(file, allow_pickle=False)
    except Exception as exc:
        raise _unreadable(file, exc) from None


def _npz(file: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(file, allow_pickle=False) as archive:
            names = list(archive.files)
            x_name = next((n for n in ("X", "x") if n in names), None)
            y_name = next((n for n in ("y", "Y") if n in names), None)
            if x_name is None or y_name is None:
                found = ", ".join(names) or "none"
                raise TrainkitError(
                    f"{file} must hold arrays named X and y (np.savez(path, X=X, y=y)); its "
                    f"arrays: {found}."
                )
            return archive[x_name], archive[y_name]
    except TrainkitError:
        raise
    except Exception as exc:
        raise _unreadable(file, exc) from None


def _target_file(file: Path, target_path: str | Path | None) -> Path:
    """The y of an X .npy file: data.target_path, else the same name with X swapped for y."""
    if target_path:
        target = Path(target_path).expanduser()
    else:
        swapped = re.sub(r"(?<![A-Za-z])[Xx](?![A-Za-z])", "y", file.stem, count=1)
        target = file.with_name(swapped + file.suffix) if swapped != file.stem else None
    if target is None or not target.is_file():
        shown = f" ({target} not found)" if target is not None else ""
        raise TrainkitError(
            f"{file} holds the inputs; where are the targets{shown}? Save them beside it as "
            f"{file.with_name('y.npy').name} (for X.npy) or set data.target_path=FILE."
        )
    return target


def _torch_file(file: Path) -> tuple[np.ndarray, np.ndarray]:
    import torch

    try:
        stored = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise unreadable(file, exc, "data.path") from None
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise TrainkitError(
            f"{file} cannot be loaded with weights_only=True ({text[:120]}); it must hold only "
            "tensors: torch.save({'X': X, 'y': y}, path)."
        ) from None
    if isinstance(stored, dict):
        x = next((stored[k] for k in ("X", "x") if k in stored), None)
        y = next((stored[k] for k in ("y", "Y") if k in stored), None)
    elif isinstance(stored, (tuple, list)) and len(stored) == 2:
        x, y = stored
    else:
        x = y = None
    if x is None or y is None:
        found = f"keys {', '.join(map(str, stored))}" if isinstance(stored, dict) else type(stored)
        raise TrainkitError(
            f"{file} must hold {{'X': tensor, 'y': tensor}} or a pair (X, y); it holds {found}."
        )
    return tuple(v.numpy() if isinstance(v, torch.Tensor) else np.asarray(v) for v in (x, y))


# -- checking and shaping -----------------------------------------------------------------------
def check_task(task: str) -> None:
    """data.task is one of TASKS."""
    if task not in TASKS:
        raise TrainkitError(f"data.task must be auto, classification or regression, got {task!r}.")


def to_array_data(x: Any, y: Any, task: str = "auto", name: str = "data") -> ArrayData:
    """Inputs and targets as trainkit trains on them, checked: float32 X (N, ...), int64 class
    indices (N,) or float32 targets (N, k)."""
    check_task(task)
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise TrainkitError(f"{name}: X and y must be arrays with one row per sample.")
    if len(x) != len(y):
        raise TrainkitError(f"{name}: X has {len(x)} rows but y has {len(y)}; give one per sample.")
    if len(x) == 0:
        raise TrainkitError(f"{name} holds no samples.")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TrainkitError(
            f"{name}: X holds {x.dtype} values; inputs must be numbers (encode text first)."
        )
    x = x.reshape(len(x), 1) if x.ndim == 1 else x
    check_float32(x, f"{name}: X")
    x = np.ascontiguousarray(x, dtype=np.float32)
    classification = _is_classification(y, task)
    if not classification:
        if not np.issubdtype(y.dtype, np.number):
            raise TrainkitError(f"{name}: y holds {y.dtype} values, but regression needs numbers.")
        check_float32(y, f"{name}: y")
        y = y.astype(np.float32)
        return ArrayData(x=x, y=y.reshape(len(y), 1) if y.ndim == 1 else y, classification=False)
    labels, class_names = class_indices(y, name)
    return ArrayData(x=x, y=labels, classification=True, class_names=class_names)


def _is_classification(y: np.ndarray, task: str) -> bool:
    if task != "auto":
        return task == "classification"
    return not np.issubdtype(y.dtype, np.floating)


def shape_facts(data: ArrayData) -> dict[str, int | None]:
    """What the net's config may interpolate, read off the arrays (None: not this kind of data).

    num_features: values per sample (F of a table, C*L or C*H*W flattened); in_channels: C of
    (N, C, ...); length: L of a sequence (N, C, L); height, width (and image_size when square)
    of images (N, C, H, W); num_classes (classification) or num_targets (regression).
    """
    shape = data.x.shape[1:]
    facts: dict[str, int | None] = dict.fromkeys(SHAPE_KEYS)
    facts["num_features"] = int(math.prod(shape))
    if len(shape) >= 2:
        facts["in_channels"] = int(shape[0])
    if len(shape) == 2:
        facts["length"] = int(shape[1])
    if len(shape) == 3:
        facts["height"], facts["width"] = int(shape[1]), int(shape[2])
        facts["image_size"] = int(shape[1]) if shape[1] == shape[2] else None
    if data.classification:
        facts["num_classes"] = max(len(data.class_names), int(data.y.max()) + 1, 2)
    else:
        facts["num_targets"] = int(math.prod(data.y.shape[1:]))
    return facts


_FILE_FACTS: dict[tuple, dict[str, int | None]] = {}


def file_facts(path: str, target_path: str | None = None, task: str = "auto") -> dict:
    """`shape_facts` of an array file, read once per file version (for config interpolation)."""
    file = locate(str(path), "data.path")
    stat = file.stat()
    key = (str(file.resolve()), target_path, task, stat.st_mtime_ns, stat.st_size)
    if key not in _FILE_FACTS:
        x, y = read_arrays(file, target_path)
        _FILE_FACTS[key] = shape_facts(to_array_data(x, y, task, str(file)))
    return _FILE_FACTS[key]


def labels_read_as_values(
    path: str | None, target_path: str | None = None, task: str = "auto"
) -> str | None:
    """For a classifier whose data.num_classes is null: when data.task=auto read the targets of
    `path` as values because they are floats, yet they hold only whole numbers (class labels
    saved as floats, e.g. 0.0 and 1.0), what was seen and the fix; else None."""
    if task != "auto" or not path:
        return None
    y = np.asarray(read_arrays(path, target_path or None)[1])
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.dtype.kind != "f" or y.ndim != 1 or not len(y) or not np.isfinite(y).all():
        return None
    if (y != np.round(y)).any():
        return None
    seen = np.unique(y)
    shown = ", ".join(map(repr, seen[:6].tolist()))
    shown += f", ... ({len(seen)} values in all)" if len(seen) > 6 else ""
    labels = seen.astype(np.int64).tolist()
    again = "" if labels == list(range(len(labels))) else f" and {relabel(labels)}"
    return (
        f"{path} holds float targets (y, {y.dtype}) with only whole numbers ({shown}), which "
        f"data.task=auto reads as regression values: to train a classifier on them as classes, "
        f"set data.task=classification{again}"
    )
