"""Values of the config checked before a run: wrong types, ranges, unset keys, a config group
set like a value, and a model whose sizes the chosen data does not provide."""

from __future__ import annotations

import re
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationKeyError

from trainkit.errors import TrainkitError, trainkit_error_in

# -- values -------------------------------------------------------------------------------------
# (key, kind, example) for the keys users override most; absent keys are skipped.
RULES: list[tuple[str, str, Any]] = [
    ("seed", "seed", 42),
    ("model.num_classes", "classes", 3),
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
    # numpy's generators take 32-bit seeds, and every generator is seeded from this one
    "seed": (
        "a whole number from 0 to 4294967295 (2**32 - 1)",
        lambda v: _int(v) and 0 <= v < 2**32,
    ),
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
    "classes": ("a whole number, 2 or more", lambda v: _int(v) and v >= 2),
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
            if key == "model.num_classes":  # it comes from the data config
                key, shown = "data.num_classes", f"{shown} (model.num_classes follows it)"
            problems.append(f"{key} must be {description}, got {shown} (e.g. {key}={example})")
    problems += _model_size_problems(cfg)
    for group in GROUPS:
        value = OmegaConf.select(cfg, group, default=None, throw_on_resolution_failure=False)
        if isinstance(value, str):
            slash = group.replace(".", "/")
            problems.append(
                f"{group} is a config group: write {slash}={value} (a slash picks a file from "
                f"conf/{slash}/, a dot sets a value)"
            )
    leaves = _leaves_with_values(OmegaConf.to_container(cfg))
    missing = [k for k, v in leaves.items() if v == "???" and k != "ckpt_path"]
    if missing:
        problems.append(
            f"{' and '.join(missing)} {'has' if len(missing) == 1 else 'have'} no value yet "
            f"(??? in the config): add {' '.join(f'{k}=<value>' for k in missing)}"
        )
    problems += _monitor_problems(cfg)
    problems += _logger_problems(cfg)
    problems += _best_checkpoint_problems(cfg)
    mode = OmegaConf.select(cfg, "monitor_mode", default="min")
    if mode not in ("min", "max"):
        problems.append(f"monitor_mode must be min or max, got '{mode}'")
    if problems:
        raise TrainkitError("; ".join(problems) + ".")


_ABSENT = object()


def _monitor_problems(cfg: DictConfig) -> list[str]:
    """Every `monitor` key must name a metric the task logs during fit: found now, not after
    a whole epoch of training."""
    names = _fit_metrics(cfg)
    if not names:
        return []
    keys = ["monitor", "model.monitor"]
    callbacks = cfg.get("callbacks")
    if isinstance(callbacks, DictConfig):
        keys += [f"callbacks.{name}.monitor" for name in callbacks]
    wrong: dict[str, str] = {}  # value -> the first key that names it
    ranked = OmegaConf.select(cfg, "optimized_metric", default=None)
    summary_names = [n.replace("train/", "test/") for n in names if n.startswith("train/")]
    if isinstance(ranked, str) and ranked not in names + summary_names:
        wrong[ranked] = "optimized_metric"
    for key in keys:
        value = OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
        if isinstance(value, str) and value not in names:
            wrong.setdefault(value, key)  # the callbacks follow ${monitor}: one line says it
    ranked_names = [n for n in names if n.startswith("val/")] + summary_names
    return [
        f"optimized_metric={value} is not a metric of this model's summary.json; pick one of "
        f"{', '.join(ranked_names)} (e.g. optimized_metric=val/loss optimized_mode=min)"
        if key == "optimized_metric"
        else f"{key}={value} is not a metric this model logs during training; pick one of "
        f"{', '.join(names)} (e.g. monitor=val/loss monitor_mode=min)"
        for value, key in wrong.items()
    ]


def _logger_problems(cfg: DictConfig) -> list[str]:
    """Callbacks that write to a logger need one."""
    loggers = cfg.get("logger")
    callbacks = cfg.get("callbacks")
    if (isinstance(loggers, DictConfig) and any(loggers.values())) or not isinstance(
        callbacks, DictConfig
    ):
        return []
    return [
        f"There is no logger, but callbacks.{name} ({callback._target_.rsplit('.', 1)[-1]}) "
        f"writes to one: drop it too (~callbacks.{name}) or keep a logger (logger=tensorboard)"
        for name, callback in callbacks.items()
        if isinstance(callback, DictConfig)
        and str(callback.get("_target_", "")).endswith("LearningRateMonitor")
    ]


def _best_checkpoint_problems(cfg: DictConfig) -> list[str]:
    """test=true tests the best checkpoint: some callback must keep it."""
    from hydra.utils import get_class
    from lightning.pytorch.callbacks import ModelCheckpoint

    if cfg.get("test") is not True:
        return []
    callbacks = cfg.get("callbacks")
    for callback in callbacks.values() if isinstance(callbacks, DictConfig) else []:
        try:
            if issubclass(get_class(str(callback.get("_target_"))), ModelCheckpoint):
                return []
        except Exception:  # not a class: reported where it is built
            continue
    return [
        "No callback keeps the best checkpoint (callbacks.model_checkpoint is gone), so there "
        "is none to test: keep it, or add test=false to train without the test"
    ]


def _fit_metrics(cfg: DictConfig) -> list[str]:
    """The train/ and val/ metric names of the model's task class, if it declares them."""
    from hydra.utils import get_class

    target = OmegaConf.select(cfg, "model._target_", default=None)
    try:
        task = get_class(target) if target else None
    except Exception:  # a target that does not import is reported where it is built
        return []
    names = getattr(task, "METRIC_NAMES", None) or ()
    eval_only = set(getattr(task, "EVAL_ONLY_METRICS", ()))  # scored on val/test only
    return [
        f"{stage}/{n}"
        for stage in ("val", "train")
        for n in names
        if not (stage == "train" and n in eval_only)
    ]


DATA_KEY = re.compile(r"^\$\{data\.(\w+)\}$")


def _model_size_problems(cfg: DictConfig) -> list[str]:
    """The model takes its sizes from the data (${data.num_features}, ${data.in_channels}):
    a size this data config lacks, or has no value for, or cannot read, is named here."""
    model = cfg.get("model")
    if not isinstance(model, DictConfig):
        return []
    try:
        resolved = OmegaConf.to_container(model, resolve=True)
    except InterpolationKeyError as exc:
        wanted = re.search(r"'([\w.]+)'", str(exc))
        return [
            f"{exc.full_key} needs {wanted.group(1) if wanted else 'a data key'}, which this "
            "data config does not define; pick a model made for this kind of data (tables, "
            "sequences or images), or add the key to the data config"
        ]
    except Exception as exc:
        error = trainkit_error_in(exc)  # an array file that cannot be read says so itself
        if error is not None:
            raise error from None
        return []  # anything else is reported where it is used
    raw = OmegaConf.to_container(model, resolve=False)
    problems = []
    for key, source in _leaves_with_values(raw).items():
        match = DATA_KEY.match(source) if isinstance(source, str) else None
        if match and _value_at(resolved, key) is None:
            if match.group(1) == "num_classes":  # class labels saved as floats read as values?
                from trainkit.data.arrays import labels_read_as_values

                data = [
                    OmegaConf.select(cfg, f"data.{k}", throw_on_resolution_failure=False)
                    for k in ("path", "target_path", "task")
                ]
                found = labels_read_as_values(*data)
                if found:  # one line, instead of asking for a data.num_classes it cannot take
                    raise TrainkitError(f"model.{key} takes data.num_classes, but {found}.")
            problems.append(
                f"model.{key} takes data.{match.group(1)}, which is null for this data"
                + _shape_hint(cfg)
            )
    return problems


def _shape_hint(cfg: DictConfig) -> str:
    """What the data's inputs look like, when the data config reads them from a file."""
    facts = {}
    for key in ("num_features", "in_channels", "length", "image_size", "num_classes"):
        value = OmegaConf.select(
            cfg, f"data.{key}", default=None, throw_on_resolution_failure=False
        )
        if value is not None:
            facts[key] = value
    if not facts:
        return " (set it, e.g. data.num_classes=3)"
    shown = ", ".join(f"data.{k}={v}" for k, v in facts.items())
    return f" (it has {shown}): use a net made for this kind of data"


def _leaves_with_values(node: Any, prefix: str = "") -> dict[str, Any]:
    """{dotted key: value} of every leaf of a plain nested dict (a list is one leaf)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_leaves_with_values(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}


def _value_at(node: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _yaml(value: Any) -> str:
    return (
        {None: "null", True: "true", False: "false"}.get(value, repr(value))
        if (value is None or isinstance(value, bool))
        else repr(value)
    )
