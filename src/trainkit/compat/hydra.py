"""Hydra internals: the run directory a command will get, resolved before Hydra starts the run.

`hydra.run.dir` may use `${hydra:runtime.cwd}` and other `${hydra:...}` values, which resolve
only against the Hydra config of the moment (`HydraConfig.instance().set_config`, as Hydra's own
`run_job` sets it just before it reads `hydra.run.dir` and creates the directory).
"""

from __future__ import annotations

import copy

from omegaconf import DictConfig, OmegaConf


def resolved_hydra_value(cfg: DictConfig, key: str) -> object:
    """`cfg`'s `key` (e.g. "hydra.run.dir") resolved as Hydra resolves it when it starts a job:
    `cfg` is a config composed with `return_hydra_config=True`; Hydra's own state is put back."""
    from hydra.core.hydra_config import HydraConfig

    cfg = copy.deepcopy(cfg)  # set_config makes its hydra node read-only
    instance = HydraConfig.instance()
    previous = instance.cfg
    try:
        instance.set_config(cfg)
        return OmegaConf.select(cfg, key)
    finally:
        instance.cfg = previous
