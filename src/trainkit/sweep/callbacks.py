"""Hydra callbacks of a sweep: check it before it starts, rank its jobs when it ends.

Hydra loads this module for every run (conf/hydra/default.yaml names its callbacks), so it stays
light: no torch, no Lightning.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from trainkit.errors import TrainkitError, exit_with
from trainkit.sweep.summary import fixed_keys, job_dirs, sweep_line, write_sweep_summary
from trainkit.sweep.target import sweep_target

EXCLUDE_KEYS = "hydra.job.config.override_dirname.exclude_keys"


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
        # A job's TensorBoard run is named after what sets it apart (lr=0.01): the keys this
        # command line fixes for every job are left out of its name, as they are out of Hydra's
        # override_dirname.
        exclude = list(config.hydra.job.config.override_dirname.exclude_keys or [])
        fixed = {k.lstrip("+~") for k in fixed_keys([str(o) for o in config.hydra.overrides.task])}
        exclude += sorted(fixed - set(exclude))
        with read_write(config.hydra), open_dict(config.hydra):
            config.hydra.sweep.dir = sweep_dir
            config.hydra.job.config.override_dirname.exclude_keys = exclude
            kept = [
                o
                for o in config.hydra.overrides.hydra
                if not o.startswith(("hydra.sweep.dir=", EXCLUDE_KEYS))
            ]
            config.hydra.overrides.hydra = [
                *kept,
                f"hydra.sweep.dir={quote}{sweep_dir}{quote}",
                f"{EXCLUDE_KEYS}=[{','.join(repr(str(k)) for k in exclude)}]",
            ]
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
