"""Which classes a checkpoint's recorded config may build: those this project chose.

eval.py and predict.py rebuild a run's data and model from the config its checkpoint records
(or its run's .hydra/config.yaml). That record is a file from wherever the checkpoint came from,
and a `_target_` is a call: `builtins.open` or `pathlib.Path.write_text` with recorded
arguments writes files. So every `_target_` in it is checked before its module is imported:

- a target named in this project's own config folders (conf/, and any other folder on Hydra's
  search path, e.g. tests/conf) is trusted: the project chose it;
- so is a class defined in a package of the project's src/ folder other than trainkit (your
  code; not a name it imports from elsewhere; its functions only where conf/ names them);
- from trainkit, torch, Lightning and torchmetrics only public classes that are building blocks
  of a model (a module, optimizer, LR scheduler, metric): their datasets and data modules may
  download and write, so data comes only from what the project names;
- and classes and functions defined in the packages listed in `trusted_packages` (eval.yaml,
  predict.yaml), which the user vouches for.

Anything else is refused by name, before its module is imported. The record is resolved first
(its `${...}` interpolations), and a record that still holds one afterwards is refused, so no
target can hide behind an interpolation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainkit.errors import TrainkitError

# Libraries whose building-block classes a recorded config may name.
LIBRARIES = ("trainkit", "torch", "lightning", "torchmetrics")
DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
TARGET_LINE = re.compile(r"^\s*_target_:\s*([A-Za-z_][\w.]*)\s*(?:#.*)?$", re.MULTILINE)


@dataclass
class Trusted:
    """The targets and packages a recorded config may use."""

    names: set[str] = field(default_factory=set)
    packages: set[str] = field(default_factory=set)  # src/: their classes
    vouched: set[str] = field(default_factory=set)  # trusted_packages: classes and functions

    def allows(self, target: str) -> bool:
        """True when `target` may be built; its module is imported only when its package is
        this project's or a trusted library."""
        if not DOTTED.fullmatch(target):
            return False
        top = target.split(".")[0]
        if target in self.names:
            return True
        if top in self.vouched:  # defined there, not a name it imported (its np.save, say)
            return _defined_in(target, top) is not None
        if top in self.packages:
            return isinstance(_defined_in(target, top), type)
        if top not in LIBRARIES or any(part.startswith("_") for part in target.split(".")):
            return False
        return _building_block(_defined_in(target, top))


def _defined_in(target: str, package: str) -> Any:
    """The object `target` names if it is a class or function defined in `package`."""
    from hydra.utils import get_object

    try:
        obj = get_object(target)
    except Exception:
        return None
    module = getattr(obj, "__module__", None) or ""
    if not callable(obj) or not (module == package or module.startswith(package + ".")):
        return None
    return obj


def _building_block(obj: Any) -> bool:
    """A class that makes a model and its training: a module, optimizer, LR scheduler or
    metric. Library datasets and data modules are not: they may download and write files."""
    import torch
    import torchmetrics

    kinds = (
        torch.nn.Module,
        torch.optim.Optimizer,
        torch.optim.lr_scheduler.LRScheduler,
        torch.optim.lr_scheduler.ReduceLROnPlateau,
        torchmetrics.Metric,
    )
    return isinstance(obj, type) and issubclass(obj, kinds)


def trusted(config_dirs: Iterable[Path], extra_packages: Iterable[str] = ()) -> Trusted:
    """What the project at these config folders chose: their targets and its src/ packages."""
    found = Trusted(vouched={str(p) for p in extra_packages})
    for folder in config_dirs:
        for file in sorted(Path(folder).rglob("*.yaml")):
            found.names.update(TARGET_LINE.findall(file.read_text(errors="replace")))
        src = Path(folder).parent / "src"
        if src.is_dir():
            found.packages.update(p.name for p in src.iterdir() if (p / "__init__.py").is_file())
    found.packages.discard("trainkit")  # the kit: building blocks only, like the libraries
    return found


def search_path_dirs() -> list[Path]:
    """This project's config folders: those on the running Hydra app's search path (conf/,
    tests/conf), else the conf/ of the project around the working directory or this kit."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        sources = HydraConfig.get().runtime.config_sources
        return [Path(s.path) for s in sources if s.schema == "file" and Path(s.path).is_dir()]
    here = Path.cwd().resolve()
    kit = Path(__file__).resolve().parents[3]  # src/trainkit/checkpoints/ -> the repository
    for folder in (*(here, *here.parents), kit):  # a notebook runs in notebooks/, say
        if (folder / "conf").is_dir() and (folder / "src").is_dir():
            return [folder / "conf"]
    return []


def targets(node: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, target) of every `_target_` in a plain nested dict / list."""
    if isinstance(node, dict):
        for name, value in node.items():
            where = f"{key}.{name}" if key else str(name)
            if name == "_target_":
                yield key or "(top)", value
            else:
                yield from targets(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from targets(value, f"{key}[{i}]")


def check_targets(config: dict, sections: Iterable[str], source: str, allowed: Trusted) -> None:
    """Refuse, naming it, the first target in `sections` of `config` this project did not choose."""
    for section in sections:
        for key, target in targets(config.get(section), section):
            if isinstance(target, str) and allowed.allows(target):
                continue
            raise TrainkitError(
                f"{source} records a config that builds {shown(target)} (at {key}), which this "
                "project does not use: trainkit only builds what conf/ names, your src/ "
                "packages and torch/Lightning model and data classes from a checkpoint's "
                "config. Nothing was run. If the checkpoint is yours and the package is "
                "trusted, list it in trusted_packages (conf/eval.yaml, conf/predict.yaml)."
            )


def shown(value: Any, limit: int = 80) -> str:
    """A value from a file, safe to print: printable, quoted when odd, and short."""
    text = value if isinstance(value, str) and value.isprintable() else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
