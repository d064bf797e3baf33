"""Check a command line before Hydra starts a run: a config mistake gets one plain sentence
(with a suggestion) and exit code 2, and no run directory is created for it.

Light on purpose: no torch, no Lightning. Flags that only print (--help, --cfg, ...) and
sweeps (--multirun) are left to Hydra.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from trainkit.errors import TrainkitError

# Flags that make Hydra print or sweep instead of running one job.
HANDS_OFF = {
    "--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--resolve",
    "--shell-completion", "-sc", "--multirun", "-m", "--config-path", "-cp",
    "--config-name", "-cn", "--config-dir", "-cd", "--experimental-rerun",
}  # fmt: skip


def check_command_line(config_name: str, argv: Sequence[str], conf_dir: Path) -> None:
    """Compose the config as Hydra will and check its values; explain and exit 2 on a mistake."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1" or not conf_dir.is_dir():
        return
    if any(arg.split("=")[0] in HANDS_OFF for arg in argv):
        return
    overrides = [a for a in argv if not a.startswith("-")]
    try:
        cfg = compose_checked(config_name, overrides, conf_dir)
        if config_name == "train":
            check_config(cfg)
        # a checkpoint that is not there needs no run directory
        ckpt = OmegaConf.select(cfg, "ckpt_path", default=None)
        if isinstance(ckpt, str) and ckpt != "???" and not Path(ckpt).expanduser().is_file():
            raise TrainkitError(f"Checkpoint not found: {ckpt} (no such file).")
    except TrainkitError as error:
        print(f"Error: {error}", file=sys.stderr)
        sys.exit(2)


def compose_checked(config_name: str, overrides: list[str], conf_dir: Path) -> DictConfig:
    """The composed config, or a TrainkitError that says what is wrong with an override."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException, MissingConfigException

    own = [o for o in overrides if not o.lstrip("+~").startswith("hydra")]
    _check_experiment_override(own, conf_dir)
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        try:
            return compose(config_name, overrides=own)
        except MissingConfigException as exc:
            raise _unknown_option(exc, conf_dir) from None
        except ConfigCompositionException as exc:
            key = getattr(exc.__cause__, "full_key", None)
            if key:
                raise _unknown_key(str(key), _base_config(config_name, own)) from None
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


def _options(conf_dir: Path, group: str) -> list[str]:
    folder = conf_dir / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _check_experiment_override(overrides: list[str], conf_dir: Path) -> None:
    for override in overrides:
        if override.startswith("experiment="):
            name = override.split("=", 1)[1]
            if name in _options(conf_dir, "experiment"):
                raise TrainkitError(
                    f"Write +experiment={name} (with the plus): experiment={name} would only "
                    "rename the run and train the default model on the default data."
                )


def _unknown_option(exc: Exception, conf_dir: Path) -> TrainkitError:
    missing = str(getattr(exc, "missing_cfg_file", "") or "")
    group, _, name = missing.rpartition("/")
    options = list(getattr(exc, "options", None) or _options(conf_dir, group))
    if not group or not options:
        return TrainkitError(_first_lines(str(exc)))
    close = difflib.get_close_matches(name, options, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    what = "experiment" if group == "experiment" else f"{group} config"
    return TrainkitError(
        f"Unknown {what} '{name}'.{hint} The choices are: {', '.join(options)} "
        f"(the files in conf/{group}/)."
    )


def _unknown_key(key: str, cfg: DictConfig | None) -> TrainkitError:
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
    return TrainkitError(
        f"{key} is not a config key.{hint} (To add a new key on purpose, write +{key}=...; "
        f"python scripts/train.py --cfg job lists every key.)"
    )


# -- values -------------------------------------------------------------------------------------
# (key, kind, example) for the keys users override most; absent keys are skipped.
RULES: list[tuple[str, str, Any]] = [
    ("seed", "natural", 42),
    ("trainer.max_epochs", "positive_int", 50),
    ("trainer.min_epochs", "natural_or_null", 1),
    ("trainer.log_every_n_steps", "positive_int", 10),
    ("trainer.check_val_every_n_epoch", "positive_int", 1),
    ("trainer.gradient_clip_val", "positive_or_null", 1.0),
    ("data.batch_size", "positive_int", 64),
    ("data.eval_batch_size", "positive_int_or_null", 256),
    ("data.val_fraction", "fraction", 0.2),
    ("data.test_fraction", "fraction", 0.2),
    ("model.optimizer.lr", "positive", 0.001),
    ("model.optimizer.weight_decay", "non_negative", 0.01),
    ("model.optimizer.momentum", "non_negative", 0.9),
    ("model.scheduler.patience", "natural", 5),
    ("model.scheduler.factor", "fraction", 0.5),
    ("callbacks.early_stopping.patience", "natural", 12),
    ("callbacks.doctor.every_n_steps", "positive_int", 10),
    ("test", "bool", "true"),
    ("tune.lr_find", "bool", "true"),
]

# Config groups: `model/optimizer=sgd` picks conf/model/optimizer/sgd.yaml.
GROUPS = ("data", "model", "model.optimizer", "model.scheduler", "trainer", "callbacks", "logger")

KINDS = {
    "natural": ("a whole number, 0 or more", lambda v: _int(v) and v >= 0),
    "natural_or_null": (
        "a whole number, 0 or more, or null",
        lambda v: v is None or (_int(v) and v >= 0),
    ),
    "positive_int": ("a whole number, 1 or more", lambda v: _int(v) and v >= 1),
    "positive_int_or_null": (
        "a whole number, 1 or more, or null",
        lambda v: v is None or (_int(v) and v >= 1),
    ),
    "positive": ("a number above 0", lambda v: _num(v) and v > 0),
    "positive_or_null": ("a number above 0, or null", lambda v: v is None or (_num(v) and v > 0)),
    "non_negative": ("a number, 0 or more", lambda v: _num(v) and v >= 0),
    "fraction": ("a number between 0 and 1 (both excluded)", lambda v: _num(v) and 0 < v < 1),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
}


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def check_config(cfg: DictConfig) -> None:
    """Raise a TrainkitError naming every key whose value has the wrong type or range."""
    problems = []
    for key, kind, example in RULES:
        value = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_resolution_failure=False)
        if value is _ABSENT or isinstance(value, DictConfig):
            continue
        description, ok = KINDS[kind]
        if not ok(value):
            shown = f"'{value}' (text)" if isinstance(value, str) else _yaml(value)
            problems.append(f"{key} must be {description}, got {shown} (e.g. {key}={example})")
    for group in GROUPS:
        value = OmegaConf.select(cfg, group, default=None, throw_on_resolution_failure=False)
        if isinstance(value, str):
            slash = group.replace(".", "/")
            problems.append(
                f"{group} is a config group: write {slash}={value} (a slash picks a file from "
                f"conf/{slash}/, a dot sets a value)"
            )
    missing = [k for k in _missing_keys(OmegaConf.to_container(cfg)) if k != "ckpt_path"]
    if missing:
        problems.append(
            f"{' and '.join(missing)} must be set (they are ??? in the config): add "
            + " ".join(f"{k}=..." for k in missing)
        )
    mode = OmegaConf.select(cfg, "monitor_mode", default="min")
    if mode not in ("min", "max"):
        problems.append(f"monitor_mode must be min or max, got '{mode}'")
    if problems:
        raise TrainkitError("; ".join(problems) + ".")


_ABSENT = object()


def _missing_keys(node: Any, prefix: str = "") -> list[str]:
    """Keys whose value is still ??? (must be given on the command line)."""
    if isinstance(node, dict):
        return [m for k, v in node.items() for m in _missing_keys(v, f"{prefix}{k}.")]
    return [prefix[:-1]] if node == "???" else []


def _yaml(value: Any) -> str:
    return (
        {None: "null", True: "true", False: "false"}.get(value, repr(value))
        if (value is None or isinstance(value, bool))
        else repr(value)
    )
