"""Whether an instantiable config node's target takes an argument of a given name."""

from __future__ import annotations

import inspect
import logging
from typing import Any

# Hydra's own keys of an instantiable node, taken whatever the target.
HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}
KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def accepts(node: Any, name: str) -> bool:
    """Whether a new key `name` may go into `node`: any plain dict takes it; an instantiable
    node only if its target takes an argument of that name."""
    if not isinstance(node, dict):
        return False
    target = node.get("_target_")
    if target is None or name in HYDRA_KEYS:
        return True
    from hydra.utils import get_object

    hydra_log = logging.getLogger("hydra.utils")
    level = hydra_log.level
    hydra_log.setLevel(logging.CRITICAL)  # a target that does not import is an answer here
    try:
        return takes(get_object(str(target)), name)
    except Exception:
        return False
    finally:
        hydra_log.setLevel(level)


def takes(target: Any, name: str) -> bool:
    """Whether calling `target` takes a keyword argument `name`. A class's **kwargs are taken to
    go on to its base class's __init__ (as they conventionally do), so that one must take it."""
    if inspect.isclass(target):
        inits = [vars(k)["__init__"] for k in target.__mro__ if "__init__" in vars(k)]
    else:
        inits = [target]
    for i, init in enumerate(inits):
        if init is object.__init__:  # **kwargs no base __init__ names: kept by the class itself
            return i > 0
        params = inspect.signature(init).parameters.values()
        if any(p.name == name and p.kind in KEYWORD for p in params):
            return True
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return False
    return True  # a function's **kwargs
