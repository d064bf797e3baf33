"""The ranked summary of a finished multirun: one row per job, read from its directory."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

SUMMARY_NAME = "sweep_summary"


@dataclass
class JobRow:
    """One job of a sweep, as its directory shows it."""

    num: int | None
    subdir: str
    status: str
    overrides: list[str] = field(default_factory=list)
    metrics: dict[str, float | None] = field(default_factory=dict)  # None: not finite
    diagnostics: list[str] = field(default_factory=list)
    value: float | None = None  # the optimised metric; None when failed, missing or not finite


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The job directories below a sweep directory: where Hydra saved a job's config or a
    summary.json lies (submitit's own folder left out)."""
    found = {p.parent.parent for p in sweep_dir.rglob(".hydra/hydra.yaml")}
    found |= {p.parent for p in sweep_dir.rglob("summary.json")}
    return sorted(d for d in found if ".submitit" not in d.relative_to(sweep_dir).parts)


def fixed_keys(task_overrides: Sequence[str]) -> set[str]:
    """The keys a sweep's command line sets to one value for all jobs (`+experiment=NAME`, not
    `model.optimizer.lr=0.01,0.001`): left out of the rows, which show what varies."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(task_overrides))
    return {o.get_key_element() for o in parsed if not o.is_sweep_override()}


def read_job(job_dir: Path, sweep_dir: Path, shared: set[str], metric: str) -> JobRow:
    """A job's row: number and overrides (less the `shared` keys) from .hydra/hydra.yaml, the
    rest from summary.json; status "missing" when there is no readable summary.json."""
    subdir = job_dir.relative_to(sweep_dir).as_posix()
    num, task = (int(subdir) if subdir.isdigit() else None), []
    try:
        saved = OmegaConf.load(job_dir / ".hydra" / "hydra.yaml")
        num = OmegaConf.select(saved, "hydra.job.num", default=num)
        task = list(OmegaConf.select(saved, "hydra.overrides.task", default=[]) or [])
    except Exception:  # no config saved, or a damaged one: the directory name is all there is
        pass
    overrides = [str(o) for o in task if str(o).split("=", 1)[0] not in shared]
    try:
        summary = json.loads((job_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return JobRow(num, subdir, "missing", overrides)
    metrics = {
        k: float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None
        for k, v in (summary.get("metrics") or {}).items()
        if k.startswith(("val/", "test/")) or k == metric
    }
    status = str(summary.get("status") or "missing")
    codes = [str(d.get("code")) for d in summary.get("diagnostics") or [] if isinstance(d, dict)]
    value = metrics.get(metric) if status == "completed" else None
    return JobRow(num, subdir, status, overrides, metrics, codes, value)


def rank(rows: Sequence[JobRow], mode: str) -> list[JobRow]:
    """Best first by the optimised metric; failed, missing and non-finite jobs last, by number."""
    sign = -1.0 if mode == "max" else 1.0

    def key(row: JobRow) -> tuple:
        score = 0.0 if row.value is None else sign * row.value
        return (row.value is None, score, math.inf if row.num is None else row.num, row.subdir)

    return sorted(rows, key=key)


def table(rows: Sequence[JobRow], metric: str) -> tuple[list[str], list[list[str]]]:
    """Header and cells, one row per job in the order given: the optimised metric first, then
    the other val/* and test/* metrics in full precision ("nan": not finite; "": not there)."""
    others = {name for row in rows for name in row.metrics} - {metric}
    val = sorted(n for n in others if n.startswith("val/"))
    columns = [metric, *val, *sorted(others - set(val))]

    def cell(row: JobRow, name: str) -> str:
        value = row.metrics.get(name)
        return "" if name not in row.metrics else "nan" if value is None else repr(value)

    header = ["rank", "job", "subdir", "status", *columns, "overrides", "diagnostics"]
    cells = [
        [str(i), "" if row.num is None else str(row.num), row.subdir, row.status]
        + [cell(row, name) for name in columns]
        + [" ".join(row.overrides), " ".join(row.diagnostics)]
        for i, row in enumerate(rows, 1)
    ]
    return header, cells


def markdown(header: list[str], cells: list[list[str]], title: str) -> str:
    """The same table for people: metrics to four significant digits, right-aligned."""
    is_metric = [4 <= j < len(header) - 2 for j in range(len(header))]

    def show(j: int, cell: str) -> str:
        if is_metric[j] and cell not in ("", "nan"):
            return f"{float(cell):.4g}"
        return cell.replace("|", "\\|")

    lines = [f"# {title}", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---:" if m else "---" for m in is_metric) + "|")
    lines += ["| " + " | ".join(show(j, c) for j, c in enumerate(r)) + " |" for r in cells]
    return "\n".join(lines) + "\n"


def write_sweep_summary(sweep_dir: Path, shared: set[str], metric: str, mode: str) -> list[JobRow]:
    """Rank the jobs below `sweep_dir` and write sweep_summary.csv and sweep_summary.md there."""
    rows = rank([read_job(d, sweep_dir, shared, metric) for d in job_dirs(sweep_dir)], mode)
    header, cells = table(rows, metric)
    with open(sweep_dir / f"{SUMMARY_NAME}.csv", "w", newline="") as f:
        csv.writer(f).writerows([header, *cells])
    title = f"Sweep: {len(rows)} jobs, best first by {metric} ({mode})"
    (sweep_dir / f"{SUMMARY_NAME}.md").write_text(markdown(header, cells, title))
    return rows


def sweep_line(rows: Sequence[JobRow], sweep_dir: Path, metric: str) -> str:
    """The line a sweep ends with: where the summary is and which job was best."""
    where = f"Sweep summary: {sweep_dir / SUMMARY_NAME}.md (and .csv), {len(rows)} jobs"
    failed = sum(r.status != "completed" for r in rows)
    note = f" {failed} did not complete: see the status column." if failed else ""
    if not rows or rows[0].value is None:
        return f"{where}; none has a finite {metric}.{note}"
    best = rows[0]
    settings = f" with {' '.join(best.overrides)}" if best.overrides else ""
    return (
        f"{where}; best: job {best.num} ({sweep_dir / best.subdir}), "
        f"{metric}={best.value:.4g}{settings}.{note}"
    )
