"""Config resolvers the scripts register before Hydra composes (light: no torch import)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf


def run_of(ckpt_path: str | None) -> Path | None:
    """The run a checkpoint continues in place (RUN/checkpoints/last.ckpt), if it is one."""
    if not ckpt_path:
        return None
    path = Path(str(ckpt_path)).expanduser().resolve()
    run = path.parent.parent
    # only the latest state continues in place; resuming from an older one (best.ckpt) forks
    if path.name == "last.ckpt" and path.parent.name == "checkpoints" and (run / ".hydra").is_dir():
        return run
    return None


def resume_dir(ckpt_path: str | None, default: str) -> str:
    """A resume continues in the checkpoint's own run directory; anything else gets `default`."""
    run = run_of(ckpt_path)
    return str(run) if run is not None else default


def config_subdir(ckpt_path: str | None, run_dir: str, stamp: str) -> str:
    """Where Hydra saves this run's config: a resume in place must not overwrite the original."""
    run = run_of(ckpt_path)
    if run is not None and Path(run_dir).expanduser().resolve() == run:
        return f".hydra/resumed_{stamp}"
    return ".hydra"


def array_fact(key: str, path: str, target_path: str | None = None, task: str = "auto") -> Any:
    """`${trainkit.arrays:KEY,PATH,...}`: a size read off an array file (conf/data/arrays.yaml),
    e.g. num_features or in_channels; None where the data has no such size."""
    from trainkit.data.arrays import SHAPE_KEYS, file_facts  # numpy: only now

    if key not in SHAPE_KEYS:
        raise ValueError(f"trainkit.arrays knows {', '.join(SHAPE_KEYS)}, not {key!r}")
    return file_facts(path, target_path or None, task or "auto")[key]


def sweep_job() -> str:
    """`${trainkit.sweep_job:}`: a sweep job's name from its overrides (lr=0.01); "" otherwise."""
    from trainkit.report.tensorboard import sweep_job_label

    return sweep_job_label()


def register() -> None:
    """Make the resolvers known to OmegaConf (once per process)."""
    resolvers = {
        "trainkit.resume_dir": resume_dir,
        "trainkit.config_subdir": config_subdir,
        "trainkit.arrays": array_fact,
        "trainkit.sweep_job": sweep_job,
    }
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
