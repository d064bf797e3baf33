"""The run's TensorBoard pages beyond plain scalars: the Custom Scalars layout, the HPARAMS row
and the names that tell runs apart.

HPARAMS: a run's row is written into its own small run, `<tensorboard run>/best`, holding the
hyperparameters (a session start) and, as scalars under their usual tags, the best epoch's
validation metrics and the test metrics, at the best epoch's step. TensorBoard builds the table's
metric columns from the scalars of such runs, so the columns are exactly those metrics, for runs
of every kind in one logdir. (An hparams "experiment" summary would fix the columns to one run's
list for the whole logdir, so none is written.)
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

RESULT_RUN = "best"
# The hyperparameters every row has, beside the run's own command-line overrides.
FIXED_HPARAMS = (
    "experiment",
    "seed",
    "model.optimizer.lr",
    "model.optimizer",
    "data.batch_size",
    "model.net",
    "trainer.max_epochs",
)
# Overrides that are plumbing, not hyperparameters.
NOT_HPARAMS = ("hydra.", "paths.", "ckpt_path", "callbacks.progress_bar", "fast_callback_hooks")


# -- Custom Scalars ------------------------------------------------------------------------------
def scalar_layout(
    metric_names: Sequence[str], per_class: bool = False, scored: bool = False
) -> dict[str, dict[str, list]]:
    """Custom Scalars charts: train, val and test of each metric on one chart, per-class scores
    of validation, and the learning rate with the gradient norm."""
    epochs = {}
    for name in metric_names:
        stages = (
            "val|test" if scored and name in ("auroc", "average_precision") else "train|val|test"
        )
        epochs[name] = ["Multiline", [rf"^({stages})/{re.escape(name)}$"]]
    layout: dict[str, dict[str, list]] = {"train vs val (by epoch)": epochs}
    if per_class:
        layout["val by class (by epoch)"] = {
            f"val {metric} by class": ["Multiline", [rf"^val_by_class/{metric}/"]]
            for metric in ("recall", "precision", "f1")
        }
    layout["optimisation (by epoch)"] = {
        "learning rate": ["Multiline", [r"^lr-"]],
        "gradient norm (median of the epoch)": ["Multiline", [r"^train/grad_norm$"]],
    }
    return layout


# -- run names -----------------------------------------------------------------------------------
def _hparam_overrides(overrides: Iterable[str]) -> list[tuple[str, Any]]:
    """(key without +/~, parsed override) of the overrides that set a hyperparameter: not
    plumbing (NOT_HPARAMS), not a deletion."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([str(o) for o in overrides])
    found = []
    for override in parsed:
        key = override.key_or_group.lstrip("+~")
        if _is_hparam(key.replace("/", ".")) and not override.is_delete():
            found.append((key, override))
    return found


def _is_hparam(key: str) -> bool:
    return not any(key == p or key.startswith(p) for p in NOT_HPARAMS)


def _short_value(text: str) -> str:
    """An override's value for a name: long floats to 4 significant digits, no slashes."""
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None and math.isfinite(number) and len(text) > 7 and "." in text:
        text = f"{number:.4g}"
    return text.replace("/", "_").replace(os.sep, "_")


def job_label(overrides: Sequence[str], exclude: Iterable[str] = ()) -> str:
    """`lr=0.01,batch_size=64`: the overrides that tell a sweep's jobs apart, by the last part
    of their key (the whole key where two would read the same)."""
    skip = {k.lstrip("+~") for k in exclude}
    items = [
        (key, _short_value(str(override.value())))
        for key, override in _hparam_overrides(overrides)
        if key not in skip
    ]
    lasts = [re.split(r"[./]", key)[-1] for key, _ in items]
    parts = [
        f"{last if lasts.count(last) == 1 else key}={value}"
        for (key, value), last in zip(items, lasts, strict=True)
    ]
    return ",".join(sorted(parts))[:120]


def sweep_job_label() -> str:
    """`${trainkit.sweep_job:}`: in a sweep's job its `job_label` (the keys the sweep sets for
    all jobs are left out, see trainkit.sweep.SweepSetup); "" in a single run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return ""
    hydra = HydraConfig.get()
    if hydra.mode != RunMode.MULTIRUN:
        return ""
    exclude = list(hydra.job.config.override_dirname.exclude_keys or [])
    return job_label(list(hydra.overrides.task), exclude) or str(hydra.job.num)


# -- HPARAMS -------------------------------------------------------------------------------------
def _hparam_value(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping) and "_target_" in value:  # a class: its name
        return str(value["_target_"]).rsplit(".", 1)[-1]
    return str(value)


def hparam_values(cfg: DictConfig, overrides: Sequence[str]) -> dict[str, Any]:
    """The run's hyperparameters: FIXED_HPARAMS and its command-line overrides, with the values
    the run used (a config group given on the command line by its choice, e.g. data=csv)."""
    values: dict[str, Any] = {}
    for key in FIXED_HPARAMS:
        value = OmegaConf.select(cfg, key, default=None)
        if OmegaConf.is_config(value):  # a class (only its name: nothing else is resolved)
            value = OmegaConf.select(cfg, f"{key}._target_", default=None)
            value = None if value is None else str(value).rsplit(".", 1)[-1]
        if value is not None:
            values[key] = _hparam_value(value)
    for key, override in _hparam_overrides(overrides):
        key = key.replace("/", ".")
        if key in FIXED_HPARAMS and key in values:  # e.g. model/optimizer=sgd: its class is there
            continue
        value = OmegaConf.select(cfg, key, default=None)
        if OmegaConf.is_config(value) or value is None:  # a group choice, or a list
            value = str(override.value())
        values[key] = _hparam_value(value)
    return values


def curves_version(run_dir: Path) -> str | None:
    """The folder below RUN/tensorboard that holds a run's curves ("" for RUN/tensorboard
    itself, "lr=0.01" for a sweep job's), None when there are none yet: a resume continues
    the curves where they are."""
    root = Path(run_dir) / "tensorboard"
    folders = {
        p.parent.relative_to(root).as_posix()
        for p in root.rglob("events.out.tfevents.*")
        if p.parent.name != RESULT_RUN
    }
    if len(folders) != 1:
        return None
    (folder,) = folders
    return "" if folder == "." else folder


def trial_name(run_dir: Path, log_dir: Path, label: str) -> str:
    """The HPARAMS row's name: the job's label first (the table cuts long names), then the run
    directory relative to the log folder."""
    try:
        where = str(Path(run_dir).resolve().relative_to(Path(log_dir).resolve()))
    except ValueError:
        where = str(run_dir)
    return f"{label} · {where}" if label else where


def write_result_run(
    log_dir: str | Path,
    hparams: Mapping[str, Any],
    metrics: Mapping[str, float],
    step: int,
    name: str,
    test_step: int | None = None,
) -> Path:
    """The run's HPARAMS row, in `log_dir/best`: hyperparameters and final metrics (at `step`,
    the best epoch; test/* at `test_step` where given, as the curves' run has them). Written
    afresh when a resumed run finishes."""
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
    from torch.utils.tensorboard import SummaryWriter

    def summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> Summary:
        meta = metadata.create_summary_metadata(data)
        return Summary(value=[Summary.Value(tag=tag, metadata=meta, tensor=metadata.NULL_TENSOR)])

    start = plugin_data_pb2.SessionStartInfo(group_name=name, start_time_secs=time.time())
    for key, value in hparams.items():
        if isinstance(value, bool):
            start.hparams[key].bool_value = value
        elif isinstance(value, (int, float)):
            start.hparams[key].number_value = value
        else:
            start.hparams[key].string_value = str(value)
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS, end_time_secs=time.time())
    path = Path(log_dir) / RESULT_RUN
    # A resumed run that finishes again replaces its row: TensorBoard would keep the first
    # session's settings of a run, whatever came after.
    for old in path.glob("events.out.tfevents.*"):
        old.unlink()
    writer = SummaryWriter(log_dir=str(path))
    try:
        writer.file_writer.add_summary(
            summary(metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(
                session_start_info=start
            ))
        )  # fmt: skip
        for key, value in metrics.items():
            at = test_step if test_step is not None and key.startswith("test/") else step
            writer.add_scalar(key, float(value), at)
        writer.file_writer.add_summary(
            summary(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(
                session_end_info=end
            ))
        )  # fmt: skip
    finally:
        writer.close()
    return path


# -- images --------------------------------------------------------------------------------------
def png_bytes(rgb: Any) -> bytes:
    """An (H, W, 3) uint8 figure as a 64-colour PNG. TensorBoard's event writer checksums every
    byte in pure Python (about 0.25 ms per kB here), so the bytes cost more than drawing: a
    confusion matrix of flat colours and text keeps its look in 64 colours, at about a third
    of the bytes of full colour."""
    import io

    from PIL import Image

    image = Image.fromarray(rgb).quantize(
        colors=64, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def add_rgb_images(writer: Any, images: Mapping[str, Any], step: int) -> None:
    """`writer.add_image(tag, rgb, step, dataformats="HWC")` for each {tag: (H, W, 3) uint8},
    in fewer bytes (see png_bytes). A writer Lightning has closed (after fit) gets them through
    a FileWriter of its own, in the same folder."""
    from tensorboard.compat.proto.summary_pb2 import Summary
    from torch.utils.tensorboard.writer import FileWriter

    values = [
        Summary.Value(
            tag=tag,
            image=Summary.Image(
                height=rgb.shape[0],
                width=rgb.shape[1],
                colorspace=3,
                encoded_image_string=png_bytes(rgb),
            ),
        )
        for tag, rgb in images.items()
    ]
    file_writer = getattr(writer, "file_writer", None)
    own = file_writer is None
    if own:
        file_writer = FileWriter(writer.get_logdir())
    try:
        file_writer.add_summary(Summary(value=values), step)
    finally:
        if own:
            file_writer.close()
