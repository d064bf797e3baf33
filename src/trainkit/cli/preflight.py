"""Check a command line before Hydra starts a run: a config mistake gets one plain sentence
(with a suggestion) and exit code 2, and no run directory is created for it.

Light on purpose: torch and Lightning are imported only to look at a checkpoint the command
names. Flags that only print (--help, --cfg, ...) and sweeps (--multirun) are left to Hydra.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import InterpolationResolutionError, OmegaConfBaseException

from trainkit.checkpoints.rundir import (
    NEW_DIR,
    claim_run_dir,
    resumes_in,
    run_dir_path,
    secondary_process,
)
from trainkit.cli.config_checks import check_config
from trainkit.cli.help import group_options
from trainkit.compat.hydra import resolved_hydra_value
from trainkit.errors import TrainkitError, exit_with
from trainkit.sweep.target import sweep_target

# Flags that make Hydra print or sweep instead of running one job.
HANDS_OFF = {
    "--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--resolve",
    "--shell-completion", "-sc", "--multirun", "-m", "--config-path", "-cp",
    "--config-name", "-cn", "--config-dir", "-cd", "--experimental-rerun",
}  # fmt: skip


def check_command_line(config_name: str, argv: Sequence[str], conf_dir: Path) -> None:
    """Compose the config as Hydra will and check its values and its run directory (last: a
    run directory that can take the run is then held); explain and exit 2 on a mistake."""
    if not conf_dir.is_dir() or any(arg.split("=")[0] in HANDS_OFF for arg in argv):
        return
    overrides = [a for a in argv if not a.startswith("-")]
    if os.environ.get("HYDRA_FULL_ERROR") == "1":  # Hydra shows its errors in full
        try:
            cfg = compose_checked(config_name, overrides, conf_dir)
        except Exception:
            return
        _claim_or_exit(config_name, cfg, overrides)
        return
    try:
        for arg in argv:
            if arg.startswith("-"):
                raise TrainkitError(
                    f"'{arg}' is not an option here: settings are key=value overrides, e.g. "
                    "trainer.max_epochs=5 (see python scripts/train.py --help)."
                )
        cfg = compose_checked(config_name, overrides, conf_dir)
        job = job_config(cfg)
        check_files(job)  # first: a missing file explains the sizes read from it
        if config_name == "train":
            try:
                check_config(job)
            except TrainkitError as error:
                raise TrainkitError(f"{error}{_experiment_hint(job, conf_dir)}") from None
            sweep_target(job)  # optimized_metric / optimized_mode agree
    except TrainkitError as error:
        exit_with(error)
    _claim_or_exit(config_name, cfg, overrides)


def job_config(cfg: DictConfig) -> DictConfig:
    """The config the job sees: `cfg` without its hydra node (as Hydra hands it to the job)."""
    job = copy.deepcopy(cfg)
    with open_dict(job):
        job.pop("hydra", None)
    return job


def _claim_or_exit(config_name: str, cfg: DictConfig, overrides: list[str]) -> None:
    """Hold the run directory Hydra will use, or explain why it cannot take this run. A helper
    process of a distributed run (DDP's other ranks) uses the one its rank-0 process holds."""
    if secondary_process():
        return
    try:
        try:
            value = resolved_hydra_value(cfg, "hydra.run.dir")
        except OmegaConfBaseException as exc:  # e.g. ${oc.env:NAME} of a variable not set
            raise TrainkitError(
                f"hydra.run.dir cannot be resolved ({_first_lines(str(exc), 1)}): give the run "
                "a directory (hydra.run.dir=PATH), or leave hydra.run.dir out."
            ) from None
        run_dir = run_dir_path(value)
        ckpt = OmegaConf.select(cfg, "ckpt_path", default=None, throw_on_missing=False)
        resume = config_name == "train" and resumes_in(run_dir, ckpt)
        # a directory named by the time (${now:...}) is another one when Hydra resolves it again
        fixed = resume or not _names_the_time(cfg, "hydra.run.dir")
        claim_run_dir(value, resume, _way_out(config_name, overrides, run_dir), hold=fixed)
    except TrainkitError as error:
        exit_with(error)


def _names_the_time(cfg: DictConfig, key: str) -> bool:
    """Whether `key`'s value, or a value it interpolates, takes ${now:...}."""
    raw = OmegaConf.to_container(cfg, resolve=False)
    todo, seen = [key], set()
    while todo:
        name = todo.pop()
        seen.add(name)
        value: object = raw
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str):
            if "${now:" in value:
                return True
            todo += [k for k in re.findall(r"\$\{([A-Za-z_][\w.]*)\}", value) if k not in seen]
    return False


def _way_out(config_name: str, overrides: list[str], run_dir: Path) -> str:
    """For a run directory that holds an earlier run: the command that continues that run (from
    what was typed and the directory's own path only), or a new directory."""
    last = run_dir / "checkpoints" / "last.ckpt"
    if config_name != "train" or not last.is_file():
        return f"{NEW_DIR}."
    typed = [o for o in overrides if _key_of(o) not in ("hydra.run.dir", "ckpt_path")]
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0].endswith(".py") else None
    shown = _short(script) if script else f"scripts/{config_name}.py"
    command = " ".join(["python", shown, *(shlex.quote(o) for o in [*typed, f"ckpt_path={last}"])])
    return f"{NEW_DIR}; or continue that run with: {command}"


def _short(path: Path) -> str:
    """`path` relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _experiment_hint(cfg: DictConfig, conf_dir: Path) -> str:
    """For a run with no experiment: which experiments there are."""
    options = group_options(conf_dir, "experiment")
    if cfg.get("experiment") not in (None, "default") or not options:
        return ""
    return f" Or train an experiment: +experiment=NAME ({', '.join(options)})."


def check_files(cfg: DictConfig) -> None:
    """A checkpoint or data file that is missing or unreadable needs no run directory."""
    ckpt = OmegaConf.select(cfg, "ckpt_path", default=None)
    if isinstance(ckpt, str) and ckpt != "???":
        from trainkit.checkpoints.files import check_checkpoint_file  # imports torch: only now

        check_checkpoint_file(Path(ckpt).expanduser())
    try:
        data_path = OmegaConf.select(cfg, "data.path", default=None, throw_on_missing=False)
    except InterpolationResolutionError:  # e.g. ${paths.data_dir}: known once Hydra runs
        return  # the data module checks the file then
    if isinstance(data_path, str) and data_path != "???":
        from trainkit.data.files import locate  # stdlib only

        # a folder too: data=arrays reads X.npy and y.npy from one (the reader says if they lack)
        locate(data_path, "data.path")


def compose_checked(config_name: str, overrides: list[str], conf_dir: Path) -> DictConfig:
    """The composed config with its hydra node (see `job_config`), or a TrainkitError that says
    what is wrong with an override."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException, MissingConfigException

    own = [o for o in overrides if not o.lstrip("+~").startswith("hydra")]
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        _check_experiment_override(own, conf_dir)  # inside: Hydra's search path knows them all
        try:
            return compose(config_name, overrides=overrides, return_hydra_config=True)
        except MissingConfigException as exc:
            raise _unknown_option(exc, conf_dir) from None
        except ConfigCompositionException as exc:
            key = getattr(exc.__cause__, "full_key", None)
            if key:
                others = [o for o in own if _key_of(o) != key]
                base = _base_config(config_name, others)
                raise _unknown_key(str(key), base, config_name) from None
            raise TrainkitError(_first_lines(str(exc))) from None
        except Exception as exc:  # a malformed override: Hydra's parser says where
            raise TrainkitError(f"Could not read the overrides: {_first_lines(str(exc))}") from None


def _base_config(config_name: str, overrides: list[str]) -> DictConfig | None:
    """The config with the group choices of `overrides` (key=value ones left out), to look
    up the right spelling of a key in; None if even that does not compose."""
    from hydra import compose

    groups = [o for o in overrides if "." not in _key_of(o)]
    try:
        return compose(config_name, overrides=groups)
    except Exception:
        return None


def _key_of(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def _first_lines(text: str, n: int = 2) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines()[:n])


def _check_experiment_override(overrides: list[str], conf_dir: Path) -> None:
    for override in overrides:
        group, _, value = override.partition("=")
        options = group_options(conf_dir, group) if value.lower() in ("null", "none") else []
        if options:  # Hydra's own words: "Config group override must be a string or a list"
            also = " (and ~callbacks.lr_monitor, which writes to it)" if group == "logger" else ""
            raise TrainkitError(
                f"{override}: a config group is not set to null; to run without it write "
                f"~{group}{also}, or pick one of its configs: {', '.join(options)}."
            )
        if override.startswith("experiment="):
            name = override.split("=", 1)[1]
            if name in group_options(conf_dir, "experiment"):
                raise TrainkitError(
                    f"Write +experiment={name} (with the plus): experiment={name} would only "
                    "rename the run and train the default model on the default data."
                )


def _unknown_option(exc: Exception, conf_dir: Path) -> TrainkitError:
    missing = str(getattr(exc, "missing_cfg_file", "") or "")
    group, _, name = missing.rpartition("/")
    options = list(getattr(exc, "options", None) or group_options(conf_dir, group))
    if not group or not options:
        return TrainkitError(_first_lines(str(exc)))
    close = difflib.get_close_matches(name, options, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    what = "experiment" if group == "experiment" else f"{group} config"
    return TrainkitError(
        f"Unknown {what} '{name}'.{hint} The choices are: {', '.join(options)} "
        f"(the files in conf/{group}/)."
    )


def _unknown_key(key: str, cfg: DictConfig | None, script: str = "train") -> TrainkitError:
    parent, _, leaf = key.rpartition(".")
    cfg = cfg if cfg is not None else OmegaConf.create()
    node = OmegaConf.select(cfg, parent) if parent else cfg
    while node is None and parent:  # the misspelling is higher up: trainr.max_epochs
        parent, _, leaf = parent.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
    keys = [str(k) for k in node] if isinstance(node, DictConfig) else []
    close = difflib.get_close_matches(leaf, keys, n=1, cutoff=0.6)
    where = f"{parent}." if parent else ""
    hint = f" Did you mean {where}{close[0]}?" if close else ""
    if not close:  # the right name in another place: max_epochs -> trainer.max_epochs
        everywhere = _leaves(OmegaConf.to_container(cfg))
        names = difflib.get_close_matches(leaf, sorted(set(everywhere.values())), n=1)
        full = sorted(k for k, v in everywhere.items() if names and v == names[0])
        if full:
            hint = f" Did you mean {' or '.join(full[:2])}?"
    return TrainkitError(
        f"{key} is not a config key.{hint} (To add a new key on purpose, write +{key}=...; "
        f"python scripts/{script}.py --cfg job lists every key.)"
    )


def _leaves(node: object, prefix: str = "") -> dict[str, str]:
    """{full dotted key: last part} of every key of a config."""
    out: dict[str, str] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            out[f"{prefix}{key}"] = str(key)
            out.update(_leaves(value, f"{prefix}{key}."))
    return out
