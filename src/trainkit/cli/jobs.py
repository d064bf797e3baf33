"""A training job as a sweeper sees it: run it, hand back the optimised metric."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from trainkit.errors import TrainkitError, exit_with
from trainkit.sweep.target import objective, sweep_target, worst_value


def run_job(job: Callable[[DictConfig], dict[str, Any]] | str, cfg: DictConfig) -> float:
    """Run `job` (train) and return its optimised metric, for a sweeper to read.

    Alone, a failure is one line and exit code 2 as usual. In a sweep, a job that fails returns
    the worst value and the sweep goes on: its summary.json says why, and the sweep summary ranks
    it last. An interrupt (Ctrl-C) stops a sweep run in this process; a submitit job that is
    stopped (SLURM's time limit, scancel) is one interrupted job of the sweep.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from trainkit.cli.launch import run_or_explain

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
        # the other jobs (e.g. +experiment=a,b of two kinds) may have it: rank this one last
        return worst_value(mode)
