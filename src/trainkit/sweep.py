"""Sweeps: the number a job hands its sweeper, and the ranked summary of a finished multirun.

Hydra loads this module for every run (conf/hydra/default.yaml names its callbacks), so it stays
light: no torch, no Lightning.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from trainkit.errors import TrainkitError, exit_with

SUMMARY_NAME = "sweep_summary"
# Metric names whose better direction is known, so a sweep that ranks them backwards is refused.
LOWER_IS_BETTER = {"loss", "mse", "mae"}
HIGHER_IS_BETTER = {"acc", "f1", "precision", "recall", "r2"}


def sweep_target(cfg: DictConfig) -> tuple[str, str]:
    """(optimized_metric, optimized_mode), checked: min or max, and the right one for a metric
    whose direction is known."""
    metric = str(cfg.get("optimized_metric") or "val/loss")
    mode = str(cfg.get("optimized_mode") or "min")
    if mode not in ("min", "max"):
        raise TrainkitError(f"optimized_mode must be min or max, got {mode!r}.")
    name = metric.rsplit("/", 1)[-1]
    better = "min" if name in LOWER_IS_BETTER else "max" if name in HIGHER_IS_BETTER else mode
    if better != mode:
        word = "lower" if better == "min" else "higher"
        raise TrainkitError(
            f"{metric} is better when {word}, but optimized_mode={mode}: "
            f"add optimized_mode={better} to the command line."
        )
    return metric, mode


def worst_value(mode: str) -> float:
    """What every real result beats: +inf when minimising, -inf when maximising."""
    return -math.inf if mode == "max" else math.inf


def objective(summary: dict[str, Any] | None, metric: str, mode: str, strict: bool) -> float:
    """The optimised metric of a run, or the worst value when the run did not complete or the
    metric is not finite (Optuna 2.x ranks +-inf last; a NaN would fail the trial).

    `strict`: a completed run without the metric at all means a misspelt optimized_metric.
    """
    worst = worst_value(mode)
    if summary is None or summary.get("status") != "completed":
        return worst
    metrics = summary.get("metrics") or {}
    if strict and metrics and metric not in metrics:
        names = ", ".join(sorted(metrics))
        raise TrainkitError(f"optimized_metric={metric} is not a metric of this run: {names}.")
    value = metrics.get(metric)
    finite = isinstance(value, (int, float)) and math.isfinite(value)
    return float(value) if finite else worst


def run_job(job: Callable[[DictConfig], dict[str, Any]], cfg: DictConfig) -> float:
    """Run `job` (train) and return its optimised metric, for a sweeper to read.

    Alone, a failure is one line and exit code 2 as usual. In a sweep, a job that fails returns
    the worst value and the sweep goes on: its summary.json says why, and the sweep summary ranks
    it last. An interrupt (Ctrl-C) stops a sweep run in this process; a submitit job that is
    stopped (SLURM's time limit, scancel) is one interrupted job of the sweep.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from trainkit.cli import run_or_explain

    metric, mode = sweep_target(cfg)  # the command line was checked (preflight, SweepSetup)
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    submitit_job = bool(os.environ.get("SUBMITIT_EXECUTOR"))  # a process of its own
    summary = None
    try:
        summary = run_or_explain(job, cfg)
    except SystemExit as exc:
        if not multirun or (exc.code != 2 and not submitit_job):
            raise
    except Exception:
        if not multirun:
            raise
        traceback.print_exc()
    try:
        return objective(summary, metric, mode, strict=multirun)
    except TrainkitError as error:  # a metric this job's task does not report
        if not multirun:
            exit_with(error)
        print(f"Error: {error}", file=sys.stderr)
        # the other jobs (e.g. +experiment=binary,regression) may have it: rank this one last
        return worst_value(mode)


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
    """The keys a sweep's command line sets to one value for all jobs (`+experiment=binary`, not
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


def check_layout(config: DictConfig) -> None:
    """A sweep's launcher must fit the trainer's processes: on SLURM one task per device; a local
    launcher cannot run Lightning's DDP, which starts each extra device's process by running the
    command line again (it would rerun the whole sweep)."""
    launcher = str(OmegaConf.select(config, "hydra.launcher._target_", default=""))
    if launcher.endswith("SlurmLauncher"):
        tasks = OmegaConf.select(config, "hydra.launcher.tasks_per_node", default=1)
        if not (isinstance(tasks, int) and tasks >= 1):
            raise TrainkitError(
                f"hydra.launcher.tasks_per_node is {tasks!r} (hydra/launcher=slurm takes it from "
                "trainer.devices): SLURM needs a number, one task per device, e.g. "
                "trainer.devices=4."
            )
        return
    strategy = str(OmegaConf.select(config, "trainer.strategy", default="auto"))
    devices = OmegaConf.select(config, "trainer.devices", default=1)
    # Any strategy but a spawning one ("auto" included) runs several devices that way.
    if devices not in (1, "1") and "spawn" not in strategy and strategy != "ddp_notebook":
        raise TrainkitError(
            "A sweep of DDP runs needs hydra/launcher=slurm: on one machine Lightning starts the "
            "other devices' processes by running the command again, which would rerun the whole "
            "sweep. Sweep with trainer.devices=1, or run the DDP jobs one at a time."
        )


class SweepSetup(Callback):
    """Before a sweep starts: resolve its directory once for all jobs; refuse a launcher that
    cannot run the trainer's processes, or an optimized_mode that would rank backwards."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra.core.hydra_config import HydraConfig
        from omegaconf import open_dict, read_write

        # The sweep directory lies under paths.log_dir, which starts at ${hydra:runtime.cwd},
        # and Hydra resolves it before any job has set HydraConfig.
        HydraConfig.instance().set_config(config)
        sweep_dir = str(config.hydra.sweep.dir)
        # Each job resolves hydra.sweep.dir from its own config, so +experiment=a,b would scatter
        # the jobs over logs/a/ and logs/b/: every job gets this sweep's directory instead.
        quote = "'" if "'" not in sweep_dir else '"'
        with read_write(config.hydra), open_dict(config.hydra):
            config.hydra.sweep.dir = sweep_dir
            kept = [o for o in config.hydra.overrides.hydra if not o.startswith("hydra.sweep.dir=")]
            config.hydra.overrides.hydra = [*kept, f"hydra.sweep.dir={quote}{sweep_dir}{quote}"]
        HydraConfig.instance().set_config(config)
        try:
            earlier = job_dirs(Path(sweep_dir)) if Path(sweep_dir).is_dir() else []
            if earlier:  # their rows would mix into this sweep's summary
                raise TrainkitError(
                    f"hydra.sweep.dir={sweep_dir} already holds {len(earlier)} jobs of an earlier "
                    "sweep; give this sweep a new directory (or leave hydra.sweep.dir unset)."
                )
            check_layout(config)
            if "optimized_metric" in config:
                sweep_target(config)
        except TrainkitError as error:
            exit_with(error)


class SweepSummary(Callback):
    """After a train.py sweep: rank its jobs into sweep_summary.csv / .md in the sweep directory.

    It reads each job's summary.json, so jobs run elsewhere (submitit, SLURM) count the same. A
    sweep in which a job did not complete exits 1, once the summary is written.
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if "optimized_metric" not in config:  # eval.py and predict.py sweeps
            return
        sweep_dir = Path(str(config.hydra.sweep.dir))
        metric, mode = sweep_target(config)
        shared = fixed_keys([str(o) for o in config.hydra.overrides.task])
        rows = write_sweep_summary(sweep_dir, shared, metric, mode)
        print(sweep_line(rows, sweep_dir, metric), flush=True)
        if any(r.status != "completed" for r in rows):
            sys.exit(1)
