"""Evaluate a checkpoint on the test split of the data it was trained on."""

from __future__ import annotations

import re
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from trainkit.callbacks import Dashboard
from trainkit.callbacks.stamp import STAMP
from trainkit.checkpoints.files import load_checkpoint, state_dict_mismatch
from trainkit.checkpoints.interrupt import TrainingInterrupted, deferred_signals, stop_signals
from trainkit.checkpoints.rundir import hold_run_dir
from trainkit.checkpoints.trust import check_targets, search_path_dirs, shown, trusted
from trainkit.data.fingerprint import changed_splits, data_fingerprint, describe_change
from trainkit.errors import TrainkitError, user_error
from trainkit.report.loggers import TensorBoardLogger
from trainkit.report.summary import empty_summary, print_summary, write_summary_if_room
from trainkit.run.train import baselines, extras, new_summary


def checkpoint_and_config(cfg: DictConfig, script: str) -> tuple[Path, DictConfig, dict]:
    """`cfg.ckpt_path`, the checked config of the run that wrote it, and the checkpoint."""
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise TrainkitError(
            f"ckpt_path is required: python scripts/{script} ckpt_path=RUN/checkpoints/best.ckpt"
        )
    ckpt_path = Path(cfg.ckpt_path).expanduser()
    checkpoint = load_checkpoint(ckpt_path)
    allowed = trusted(search_path_dirs(), cfg.get("trusted_packages") or ())
    train_cfg = training_config(ckpt_path, checkpoint, allowed)
    data_dir = OmegaConf.select(cfg, "paths.data_dir", default=None)
    moved = cfg.get("data_path")
    return ckpt_path, with_data_path(train_cfg, moved, script, data_dir), checkpoint


def with_data_path(
    train_cfg: DictConfig, moved: str | None, script: str, data_dir: str | None = None
) -> DictConfig:
    """The run's data config, with `data_path` (the data's new place) when it moved; a data
    file that is no longer where the run read it is said so, with that way out. A folder of
    downloaded data sets (data.data_dir) is this project's own (`data_dir`), not one a
    checkpoint names: a download goes nowhere else."""
    if "data_dir" in train_cfg.data:
        train_cfg.data.data_dir = str(Path(moved or data_dir or "data").expanduser().resolve())
        return train_cfg
    recorded = train_cfg.data.get("path")
    if moved:
        if recorded is None:
            raise TrainkitError(
                f"data_path={moved} is for data read from a file (data.path), and this "
                "checkpoint's data has no such file; leave data_path out."
            )
        train_cfg.data.path = str(Path(moved).expanduser().resolve())
    elif isinstance(recorded, str) and not Path(recorded).expanduser().exists():
        raise TrainkitError(
            f"The data this checkpoint was trained on is no longer at {shown(recorded, 200)}: "
            f"give its new place with python scripts/{script} ckpt_path=... data_path=NEW_PATH "
            "(it must hold the same data; the fingerprint check says if not)."
        )
    return train_cfg


def training_config(ckpt_path: Path, checkpoint: dict, allowed: Any = None) -> DictConfig:
    """The config a checkpoint records about itself, else its run's .hydra/config.yaml; with
    `allowed` (a trust.Trusted), every class it would build is checked first."""
    stamped = (checkpoint.get(STAMP) or {}).get("config")
    source = ckpt_path
    if stamped:
        config = OmegaConf.create(stamped)
    else:
        source = ckpt_path.resolve().parent.parent / ".hydra" / "config.yaml"
        if not source.is_file():
            raise TrainkitError(
                f"{ckpt_path} does not say how it was trained, and there is no {source}. "
                "Evaluate a checkpoint inside the run directory that trained it "
                "(RUN/checkpoints/*.ckpt)."
            )
        config = OmegaConf.load(source)
    try:  # resolved first: a target must not hide behind an interpolation
        plain = OmegaConf.to_container(config, resolve=True)
    except Exception as exc:
        raise TrainkitError(
            f"{source} records a config that cannot be resolved here ({_first_line(exc)}); "
            "evaluate a checkpoint written by a trainkit training run."
        ) from None
    for section in ("data", "model"):
        if not isinstance(plain.get(section), dict) or "_target_" not in plain[section]:
            raise TrainkitError(
                f"{source} does not record a {section} config to rebuild the run from; "
                "evaluate a checkpoint written by a trainkit training run."
            )
    kept = {k: plain.get(k) for k in ("data", "model", "seed", "experiment")}
    if "${" in repr(kept):
        raise TrainkitError(
            f"{source} records a config that still holds an interpolation (${{...}}) once "
            "resolved, which no training run writes. Nothing was run."
        )
    if allowed is not None:
        check_targets(kept, ("data", "model"), str(source), allowed)
    seed = kept["seed"]
    if not (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**32):
        raise TrainkitError(f"{source} records seed={shown(seed)}, not a 32-bit seed.")
    kept["experiment"] = shown(str(kept["experiment"] or "default"), 60)
    return OmegaConf.create(kept)  # plain values: what was checked is what is built


def _first_line(exc: BaseException) -> str:
    return shown((str(exc).strip().splitlines() or [type(exc).__name__])[0], 120)


def build_from_checkpoint(node: DictConfig, ckpt_path: Path) -> Any:
    """Instantiate the data or model config a checkpoint's run recorded; a class it names that no
    longer imports (a renamed package, a moved module) gets an error that says so."""
    from hydra.errors import InstantiationException

    try:
        return instantiate(node)
    except InstantiationException as exc:
        missing = re.search(r"Error locating target '([\w.]+)'", str(exc))
        if missing is None:
            raise
        target = missing.group(1)
        raise TrainkitError(
            f"{ckpt_path} was trained with {target}, which no longer imports (its package was "
            "renamed, e.g. by scripts/new_project.py, or the module moved). Evaluate it where "
            f"{target.split('.')[0]} is importable, or retrain it in this project."
        ) from None


def restore_model(train_cfg: DictConfig, checkpoint: dict, ckpt_path: Path) -> Any:
    """The trained model, rebuilt from its config with the checkpoint's weights."""
    model = build_from_checkpoint(train_cfg.model, ckpt_path)
    problem = state_dict_mismatch(model.state_dict(), checkpoint["state_dict"])
    if problem:
        raise TrainkitError(f"{ckpt_path} does not fit the model its run config builds: {problem}.")
    model.load_state_dict(checkpoint["state_dict"])
    return model


def check_data(
    cfg: DictConfig, checkpoint: dict, datamodule: Any, splits: list[str], script: str
) -> dict[str, Any]:
    """Compare the loaded data with the fingerprint the checkpoint recorded: a changed split
    is refused unless `allow_data_change=true`, which turns it into a recorded warning."""
    recorded = (checkpoint.get(STAMP) or {}).get("data_fingerprint")
    now = data_fingerprint(datamodule)
    facts: dict[str, Any] = {"data_fingerprint": now}
    if not isinstance(recorded, dict):
        facts["data_check"] = "no fingerprint recorded with the checkpoint; data not compared"
        return facts
    changed = changed_splits(recorded, now, splits)
    if not changed:
        facts["data_check"] = "same data as in training"
        return facts
    what = (
        f"The data differs from what the checkpoint was trained on: "
        f"{describe_change(recorded, now, changed)}. The data file changed (rows added, removed, "
        "reordered or edited, or different scaling), so the split may now hold training rows"
    )
    if not cfg.get("allow_data_change"):
        raise TrainkitError(
            f"{what}. Use the original data, or accept the difference with "
            f"python scripts/{script} ckpt_path={cfg.ckpt_path} allow_data_change=true"
        )
    print(f"WARNING: {what}; going on because allow_data_change=true.", file=sys.stderr)
    facts["warnings"] = [f"{what}."]
    facts["trained_data_fingerprint"] = {k: str(v) for k, v in recorded.items()}
    return facts


def eval_trainer(cfg: DictConfig, run_dir: Path) -> L.Trainer:
    """The trainer group's Trainer (devices, strategy, precision) for testing only."""
    return instantiate(
        cfg.trainer,
        logger=TensorBoardLogger(
            str(run_dir), name="tensorboard", version="", default_hp_metric=False
        ),
        callbacks=[Dashboard(console=False)],
        enable_checkpointing=False,
        enable_model_summary=False,
        default_root_dir=str(run_dir),
    )


@contextmanager
def recorded_run(cfg: DictConfig, script: str) -> Iterator[dict[str, Any]]:
    """Run the body with Ctrl-C / SIGTERM as a clean stop, and leave summary.json in the run
    directory whatever happens: completed, failed (with the error) or interrupted. One process
    (rank 0) writes and prints."""
    run_dir = Path(cfg.paths.output_dir)
    start = time.perf_counter()
    summary = empty_summary(str(cfg.get("experiment") or script), run_dir)
    rank_zero = rank_zero_only.rank == 0
    hold_run_dir(run_dir)  # refused while another process holds it, or when it holds a run
    with stop_signals():
        try:
            yield summary
            summary["status"], summary["stop_reason"] = "completed", None
        except BaseException as exc:
            interrupted = isinstance(exc, (TrainingInterrupted, KeyboardInterrupt, SystemExit))
            summary["status"] = "interrupted" if interrupted else "failed"
            summary["stop_reason"] = "interrupted" if interrupted else "error"
            if not interrupted:
                summary["error"] = str(user_error(exc) or f"{type(exc).__name__}: {exc}")
            elif rank_zero:
                again = " ".join(["python", f"scripts/{script}", *_given_overrides()])
                print(f"\nInterrupted; nothing was lost. Run it again: {again}", file=sys.stderr)
            raise
        finally:
            summary["wall_time_s"] = round(time.perf_counter() - start, 2)
            if rank_zero:
                with deferred_signals():
                    write_summary_if_room(run_dir / "summary.json", summary)


def _given_overrides() -> list[str]:
    """This command's own overrides (not where it wrote: a new attempt gets a new directory)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    given = HydraConfig.get().overrides.task
    return [shlex.quote(o) for o in given if not o.startswith("hydra.")]


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Rebuild data and model from the checkpoint's run, test it, write summary.json."""
    run_dir = Path(cfg.paths.output_dir)
    with recorded_run(cfg, "eval.py") as summary:
        ckpt_path, train_cfg, state = checkpoint_and_config(cfg, "eval.py")
        summary.update(new_summary(train_cfg, run_dir))
        L.seed_everything(train_cfg.seed, workers=True, verbose=False)
        datamodule = build_from_checkpoint(train_cfg.data, ckpt_path)
        model = restore_model(train_cfg, state, ckpt_path)
        datamodule.setup("test")
        summary.update(check_data(cfg, state, datamodule, ["test"], "eval.py"))
        trainer = eval_trainer(cfg, run_dir)
        epoch = state.get("epoch")
        model.weights_epoch = epoch if isinstance(epoch, int) else None  # TensorBoard's step
        trainer.test(model, datamodule=datamodule)
        baseline = baselines(model, datamodule)
        summary.update(
            {
                "epochs_completed": int(state.get("epoch", -1)) + 1,
                "best_checkpoint": str(ckpt_path.resolve()),
                "metrics": {
                    k: float(v)
                    for k, v in trainer.callback_metrics.items()
                    if k.startswith("test/")
                },
                "baseline": {k: v for k, v in baseline.items() if k.startswith("test/")},
                "train_run_dir": str(ckpt_path.resolve().parent.parent),
                **extras(model, datamodule),
            }
        )
    if rank_zero_only.rank == 0:
        print_summary(summary, run_dir)
    return summary
