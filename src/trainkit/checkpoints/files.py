"""Open checkpoints safely (weights_only) and say in one sentence why one cannot be used."""

from __future__ import annotations

import pickle
import re
import shlex
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from trainkit.callbacks.stamp import STAMP
from trainkit.errors import TrainkitError


def check_checkpoint_file(path: Path) -> None:
    """A checkpoint path that is a folder, missing, or not a whole zip archive (every checkpoint
    torch writes is one): the error, before anything tries to unpickle it."""
    if path.is_dir():
        raise TrainkitError(
            f"ckpt_path={path} is a directory; pass a checkpoint file in it, e.g. "
            f"ckpt_path={path / 'checkpoints' / 'last.ckpt'}."
        )
    if not path.is_file():
        raise TrainkitError(f"Checkpoint not found: {path}.{_nearby(path)}")
    if not zipfile.is_zipfile(path):
        raise _damaged(path, "not a complete zip archive")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint at `path`, loaded with weights_only=True, or a clear TrainkitError."""
    path = Path(path)
    check_checkpoint_file(path)
    _check_crc(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:
            raise TrainkitError(
                f"{path} holds pickled Python objects ({found.group(1)}), not only tensors and "
                "plain values. trainkit loads checkpoints with weights_only=True and never runs "
                "code from a file; use a checkpoint written by a trainkit run."
            ) from None
        raise _damaged(path, _reason(exc)) from None
    except Exception as exc:  # a damaged archive member, an empty file ...
        raise _damaged(path, _reason(exc)) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise TrainkitError(
            f"{path} is a PyTorch file but not a Lightning checkpoint (it has no 'state_dict'); "
            "pass a .ckpt written by a training run, e.g. RUN/checkpoints/best.ckpt."
        )
    return checkpoint


def _check_crc(path: Path) -> None:
    """Every member's CRC-32, as the archive recorded it: torch itself loads flipped bits."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
        raise _damaged(path, str(exc) or type(exc).__name__) from None
    if bad is not None:
        raise _damaged(path, f"{bad} does not match its checksum: the bytes changed")


def _reason(exc: BaseException) -> str:
    """The telling line of a loading error (torch's own is a page long)."""
    text = str(exc).strip()
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    return detail.group(1) if detail else (text.splitlines() or [type(exc).__name__])[0]


def _damaged(path: Path, reason: str) -> TrainkitError:
    others = _other_checkpoints(path)
    advice = (
        f"Use another checkpoint: {', '.join(str(p) for p in others[:3])}."
        if others
        else "Use another checkpoint of the run, e.g. RUN/checkpoints/best.ckpt."
    )
    return TrainkitError(
        f"Checkpoint {path} cannot be read: it is truncated or not a PyTorch checkpoint "
        f"({reason.strip()[:100]}). {advice}"
    )


def _other_checkpoints(path: Path) -> list[Path]:
    """The other .ckpt files beside `path`."""
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.glob("*.ckpt") if p.name != path.name)


def _nearby(path: Path) -> str:
    found = _other_checkpoints(path)
    if found:
        return f" That directory holds: {', '.join(p.name for p in found)}."
    return " Pass a .ckpt file, e.g. ckpt_path=logs/<experiment>/runs/<run>/checkpoints/last.ckpt."


def stamp(cfg: DictConfig, overrides: list[str]) -> dict[str, Any]:
    """What a checkpoint records about the run that wrote it (plain values only)."""
    return {
        "experiment": str(cfg.get("experiment") or "default"),
        "overrides": list(overrides),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }


def known_experiment(name: str) -> bool:
    """True for the name of an experiment file on the config search path (conf/experiment/)."""
    from trainkit.checkpoints.trust import search_path_dirs

    return bool(re.fullmatch(r"[\w-]+", name)) and any(
        (folder / "experiment" / f"{name}.yaml").is_file() for folder in search_path_dirs()
    )


def train_command(overrides: list[str], *extra: str) -> str:
    """The shell command that trains with these overrides (plus `extra`)."""
    script = "scripts/train.py"
    if sys.argv and sys.argv[0].endswith("train.py"):
        script = _short(Path(sys.argv[0]))
    return " ".join(["python", script, *(shlex.quote(o) for o in [*overrides, *extra])])


def _short(path: Path) -> str:
    """`path` relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def check_resume(checkpoint: Mapping[str, Any], cfg: DictConfig, model: Any, path: Path) -> str:
    """Refuse, with the reason and the way out, a checkpoint that this run cannot continue.

    What the checkpoint records is shown as facts, never pasted into a suggested command: a
    checkpoint may come from anywhere. Returns the settings a resume may change that this one
    does change ("" if none)."""
    from trainkit.checkpoints.trust import shown

    meta = checkpoint.get(STAMP) or {}
    written_by = meta.get("experiment")
    this = str(cfg.get("experiment") or "default")
    trained_with = f"the overrides it was trained with ({path.parent.parent / '.hydra'} lists them)"
    if written_by and written_by != this:
        # suggested only when it names one of this project's experiments, as a fact of conf/
        known = isinstance(written_by, str) and known_experiment(written_by)
        command = train_command([f"+experiment={written_by}"], f"ckpt_path={_short(path)}")
        raise TrainkitError(
            f"{path} was written by experiment '{shown(str(written_by))}', but this run is "
            f"'{this}'. Resume it with {trained_with}"
            + (f": {command} (plus any others it had)." if known else ".")
        )
    problem = state_dict_mismatch(model.state_dict(), checkpoint["state_dict"])
    if problem:
        hint = f" Resume it with {trained_with}." if meta else ""
        raise TrainkitError(f"{path} does not fit this model: {problem}.{hint}")
    done, max_epochs = int(checkpoint.get("epoch", 0)), cfg.get("trainer", {}).get("max_epochs")
    if isinstance(max_epochs, int) and 0 <= max_epochs < done:
        raise TrainkitError(
            f"{path} has already trained {done} epochs; trainer.max_epochs={max_epochs} would "
            f"end before it starts. Resume with trainer.max_epochs above {done} (or none, for "
            "the default)."
        )
    recorded = meta.get("config")
    if not isinstance(recorded, Mapping):
        recorded = _run_config(path)
    if recorded is None:
        return ""
    current = OmegaConf.to_container(cfg, resolve=True)
    changed = config_changes(recorded, current)
    if changed:
        raise TrainkitError(
            f"{path} was trained with a different config: {changed}. A resume keeps the "
            "data, model, optimizer and seed (it may change how long to train, patience "
            "and logging): set those keys back (drop the overrides that change them), or "
            "start a new run without ckpt_path."
        )
    return config_changes(recorded, current, allowed=True)


def _run_config(path: Path) -> dict | None:
    """The config in the checkpoint's run directory (.hydra/config.yaml), resolved here, for a
    checkpoint that records none; None when there is none or it does not resolve."""
    file = path.resolve().parent.parent / ".hydra" / "config.yaml"
    try:
        config = OmegaConf.to_container(OmegaConf.load(file), resolve=True)
    except Exception:
        return None
    return config if isinstance(config, dict) else None


# What a resume may change: how long and how patiently to train, where and how to log.
RESUMABLE_CHANGES = (
    "trainer.max_epochs", "trainer.min_epochs", "trainer.max_steps", "trainer.max_time",
    "trainer.accelerator", "trainer.devices", "trainer.num_nodes", "trainer.default_root_dir",
    "trainer.enable_progress_bar", "trainer.enable_model_summary", "trainer.log_every_n_steps",
    "callbacks.", "logger.", "paths.", "hydra.", "ckpt_path", "test", "tune.",
    "data.data_dir", "data.path", "fast_callback_hooks",
)  # fmt: skip


# Locations that follow the run directory: not worth listing as a change of a resume.
PLUMBING = ("paths.", "hydra.", "ckpt_path", "trainer.default")


def config_changes(before: Mapping[str, Any], after: Mapping[str, Any], allowed=False) -> str:
    """The keys whose values differ, as "key: old -> new": those a resume may not change, or
    with `allowed` those it may (locations and plumbing left out)."""
    from trainkit.report.summary import flatten

    def resumable(key: str) -> bool:
        return any(key == p or (p.endswith(".") and key.startswith(p)) for p in RESUMABLE_CHANGES)

    old, new = flatten(before), flatten(after)
    keys = [
        k
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k) and resumable(k) == allowed
        and not (allowed and (k.startswith(PLUMBING) or k.endswith(".dirpath")))
    ]  # fmt: skip
    from trainkit.checkpoints.trust import shown

    listed = [
        f"{shown(k, 40)}: {shown(old.get(k, '(unset)'), 40)} -> {new.get(k, '(unset)')}"
        for k in keys[:4]
    ]
    return ", ".join(listed) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")


def state_dict_mismatch(expected: Mapping[str, Any], found: Mapping[str, Any]) -> str | None:
    """A short description of how a checkpoint's weights differ from the model's, or None."""
    problems = []
    shapes = [
        f"{k} is {_shape(found[k])} in the checkpoint but {_shape(v)} in the model"
        for k, v in expected.items()
        if k in found and hasattr(v, "shape") and tuple(v.shape) != tuple(found[k].shape)
    ]
    problems += shapes[:2]
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing:
        problems.append(f"the model's {_names(missing)} are not in the checkpoint")
    if unexpected:
        problems.append(f"the checkpoint's {_names(unexpected)} are not in the model")
    return "; ".join(problems) or None


def _shape(tensor: Any) -> str:
    return "x".join(str(d) for d in tensor.shape) or "a scalar"


def _names(keys: list[str]) -> str:
    more = f" and {len(keys) - 2} more" if len(keys) > 2 else ""
    return ", ".join(keys[:2]) + more
