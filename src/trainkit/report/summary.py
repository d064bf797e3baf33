"""What a run leaves for people: summary.json and the final console table."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> {"a.b.c": value} with values TensorBoard accepts (numbers, str, bool).

    Hydra's plumbing keys (`_partial_` and the like, but not `_target_`) are left out.
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if str(key).startswith("_") and key != "_target_":
            continue
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def readable_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The flattened config, without unset keys and machine-specific paths."""
    return {
        k: v
        for k, v in flatten(config).items()
        if v != "None" and not (isinstance(v, str) and os.path.isabs(v))
    }


def json_safe(value: Any) -> Any:
    """Plain JSON: NaN and infinities become null (strict parsers reject them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_summary(path: Path, summary: Mapping[str, Any]) -> None:
    """Write summary.json atomically, so a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(json_safe(summary), indent=2, allow_nan=False) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_summary_if_room(path: Path, summary: Mapping[str, Any]) -> None:
    """write_summary; for a run that already failed, a full disk costs summary.json, not the
    run's own Error line (which says the disk is full)."""
    try:
        write_summary(path, summary)
    except OSError:
        if summary.get("status") == "completed":
            raise


def print_summary(summary: Mapping[str, Any], run_dir: Path) -> None:
    """A short table: each metric on val (best epoch), test and the trivial baseline."""
    from rich.console import Console
    from rich.table import Table

    metrics, baseline = summary.get("metrics", {}), summary.get("baseline", {})
    names = sorted({k.split("/", 1)[1] for k in [*metrics, *baseline] if "/" in k})
    columns = [
        (label, source, prefix)
        for label, source, prefix in (
            ("val (best epoch)", metrics, "val/"),
            ("test (best ckpt)", metrics, "test/"),
            ("baseline (test)", baseline, "test/"),
        )
        if any(k.startswith(prefix) for k in source)
    ]
    title = f"{summary.get('experiment')}: {summary.get('status')}"
    if summary.get("stop_reason"):
        title += f" ({summary['stop_reason']}, {summary.get('epochs_completed')} epochs)"
    table = Table(title=title)
    table.add_column("metric")
    for label, _, _ in columns:
        table.add_column(label, justify="right")
    for name in names:
        cells = [source.get(f"{prefix}{name}") for _, source, prefix in columns]
        table.add_row(name, *("-" if v is None else f"{v:.4f}" for v in cells))
    console = Console()
    console.print(table)
    console.print(f"Run directory: {run_dir}")


def empty_summary(experiment: str, run_dir: Path) -> dict[str, Any]:
    """The summary.json of a run that has not got anywhere yet (a failure until shown otherwise)."""
    return {
        "experiment": experiment, "status": "failed", "stop_reason": "error",
        "epochs_completed": 0, "best_checkpoint": None, "metrics": {}, "baseline": {},
        "diagnostics": [], "run_dir": str(run_dir),
    }  # fmt: skip


def leave_summary(run_dir: Path, experiment: str, status: str, error: str | None = None) -> None:
    """summary.json for a run that stopped before its own code could write one (an error or
    Ctrl-C during start-up), so that no run directory is left without one."""
    path = Path(run_dir) / "summary.json"
    if not Path(run_dir).is_dir() or path.exists():
        return
    summary = {**empty_summary(experiment, run_dir), "status": status}
    if status == "interrupted":
        summary["stop_reason"] = "interrupted"
    if error:
        summary["error"] = error
    write_summary_if_room(path, summary)
