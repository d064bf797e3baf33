"""The training doctor's fixes as Hydra overrides valid for one run's own config and command line,
each checked by composing the config as Hydra will, and the command that applies the best one."""

from __future__ import annotations

import contextlib
import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from trainkit.doctor.findings import fmt, value_text
from trainkit.run.targets import accepts

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"
ABSENT = object()
# A string Hydra's override grammar reads back as the same string without quotes.
PLAIN = re.compile(r"[A-Za-z_/][\w/\-.+@%]*")
WORDS = {"true", "false", "null", "nan", "inf"}
INTERPOLATION = re.compile(r"\$\{[^{}'\"]*\}")
REFERENCE = re.compile(r"\$\{(\.*[\w\-]+(?:\.[\w\-]+)*)\}")
# What a new run leaves out of its command: it gets a directory of its own and does not resume.
# Left out of a command: a new run of its own (not a resume, not the old directory), one run
# (not the search a sweep job came from).
NEW_RUN = ("hydra.run.dir", "hydra.sweep.dir", "ckpt_path", "paths.output_dir", "hparams_search")
# A fix of the first key means nothing while the second is on: it would replace the fix's value.
OVERRIDDEN_BY = {"model.optimizer.lr": "tune.lr_find"}
# Values a new run computes afresh: its own directory, the time it starts.
RUNTIME = re.compile(r"\$\{\s*(hydra|now):")


@dataclass
class _Edit:
    """One override of a try: `key` (a fixed key, or the null node rebuilt) set to `value`."""

    key: str
    value: Any
    plus: str = ""  # "+" adds a key the run's config lacks
    replaces: list[int] = field(default_factory=list)  # run overrides it takes the place of

    def text(self, prefix: str | None = None) -> str:
        plain = not isinstance(self.value, (dict, list, tuple, str))
        value = value_text(self.value) if plain else _hydra_text(self.value)
        return f"{self.plus if prefix is None else prefix}{self.key}={value}"


class RunAdvisor:
    """Callable Advisor for one run."""

    def __init__(
        self,
        cfg: DictConfig,
        overrides: list[str],
        config_name: str = "train",
        conf_dir: Path | None = None,
        command_line: bool = True,
    ) -> None:
        # command_line=False: `overrides` are not what the run was started with (a run from
        # Python): the fixes are still checked, but no command can be given
        self.command_line = command_line
        self.overrides = list(overrides)
        self.config_name = config_name
        self.conf_dir = conf_dir or CONF_DIR
        self.tree = OmegaConf.to_container(cfg, resolve=False)
        # [the run's overrides that compose], [] if none do; found on first use
        self._base: list[list[str]] | None = None
        self._seen: dict[str, tuple[str, list[str]] | None] = {}

    def __call__(self, fixes: list[dict[str, Any]]) -> tuple[list[str], str | None]:
        """The fixes that can be made valid for this run, as overrides, and the command of the
        first; a fix that cannot is left out (never an exception)."""
        tries: list[str] = []
        commands: list[list[str]] = []
        try:
            with self._hydra():
                for fix in fixes:
                    with contextlib.suppress(Exception):
                        # findings often share a fix (a lower learning rate): check it once
                        if repr(fix) not in self._seen:
                            self._seen[repr(fix)] = self._advise(fix)
                        found = self._seen[repr(fix)]
                        if found and found[0] not in tries:
                            tries.append(found[0])
                            commands.append(found[1])
        except Exception:  # no config to compose with: no advice rather than a failed run
            pass
        if not commands or not self.command_line:
            return tries, None
        from trainkit.checkpoints.files import train_command  # imports torch: only now

        return tries, train_command(commands[0])

    def _hydra(self) -> contextlib.AbstractContextManager:
        from hydra import initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra

        if GlobalHydra.instance().is_initialized():  # inside the running app: its search path
            return contextlib.nullcontext()
        return initialize_config_dir(config_dir=str(self.conf_dir), version_base="1.3")

    def _compose(self, overrides: list[str]) -> Any:
        from hydra import compose

        cfg = compose(self.config_name, overrides=overrides)
        return OmegaConf.to_container(cfg, resolve=False)

    def _base_overrides(self) -> list[str]:
        """The run's overrides that compose here (its hydra.* ones only if they do)."""
        from hydra.core.hydra_config import HydraConfig

        if self._base is None and HydraConfig.initialized():  # this run's app just composed them
            self._base = [self.overrides]
        if self._base is None:
            self._base = []
            own = [o for o in self.overrides if not override_key(o).startswith("hydra")]
            for overrides in (self.overrides, own):
                with contextlib.suppress(Exception):
                    self._compose(overrides)
                    self._base = [overrides]
                    break
        if not self._base:
            raise ValueError("the run's overrides do not compose here")
        return self._base[0]

    def _advise(self, fix: dict[str, Any]) -> tuple[str, list[str]] | None:
        """The try and the command's overrides of one fix, or None if it cannot be valid or
        would change nothing."""
        if all(_at(self.tree, key) == value for key, value in fix.items()):
            return None  # already so in this run
        fix = dict(fix)
        for key, switch in OVERRIDDEN_BY.items():
            if key in fix and _at(self.tree, switch) is True:
                fix[switch] = False
        base = self._base_overrides()
        edits = self._edits(fix, base)
        if not edits:
            return None
        # The command is checked: appended as typed instead, the try composes to the same
        # values (Hydra takes the last of two overrides of a key, and a dict over a null or
        # after a ~deletion of it), while the command's in-place form is the stricter one.
        command = _command(base, edits)
        composed = self._compose(command)
        if any(_at(composed, e.key) != e.value for e in edits):
            return None  # e.g. undone by a later override, or changed on the way
        return " ".join(e.text() for e in edits), command

    def _edits(self, fix: dict[str, Any], base: list[str]) -> list[_Edit] | None:
        """The overrides that set the fix's keys, one per key or per null node rebuilt."""
        edits: dict[str, _Edit] = {}
        for key, value in fix.items():
            kind, node = _locate(self.tree, key)
            if kind == "rebuild":
                edit = edits.get(node) or self._rebuild(node, base)
                if edit is None or not _place(edit, key, value, base):
                    return None
                edits[node] = edit
            elif kind in ("set", "add"):
                parent = _at(self.tree, key.rpartition(".")[0]) if "." in key else self.tree
                if kind == "add" and not accepts(parent, key.rpartition(".")[2]):
                    return None
                edits[key] = _Edit(key, _rounded(value), "+" if kind == "add" else "")
                edits[key].replaces = _same_key(base, key)
            else:
                return None
        return list(edits.values())

    def _rebuild(self, key: str, base: list[str]) -> _Edit | None:
        """`key`'s node as the config has it without the overrides that null or delete it, its
        interpolations resolved in this run's config; None without such a node."""
        cut = [i for i, o in enumerate(base) if _nulls(o, key)]
        if not cut:  # null in the config files themselves: no default to rebuild
            return None
        node = _at(self._compose([o for i, o in enumerate(base) if i not in cut]), key)
        if not isinstance(node, dict):
            return None
        plus = "+" if _at(self.tree, key) is ABSENT else ""
        return _Edit(key, self._resolved(key, node), plus, cut)

    def _resolved(self, key: str, node: dict[str, Any]) -> dict[str, Any]:
        """`node` (to be put at `key`) with the interpolations the run resolves resolved, e.g.
        ${monitor} -> val/loss; those a new run computes afresh (its directory) kept."""
        tree = copy.deepcopy(self.tree)
        parent, _, leaf = key.rpartition(".")
        (_at(tree, parent) if parent else tree)[leaf] = copy.deepcopy(node)
        probe = OmegaConf.create(tree)

        def visit(value: Any, where: str) -> Any:
            if isinstance(value, dict):
                return {k: visit(v, f"{where}.{k}") for k, v in value.items()}
            if isinstance(value, list):
                return [visit(v, f"{where}.{i}") for i, v in enumerate(value)]
            if not isinstance(value, str) or "${" not in value or _runtime(tree, where, value):
                return value
            try:
                found = OmegaConf.select(probe, where, throw_on_resolution_failure=True)
            except Exception:  # e.g. an environment variable not set here: leave it to the run
                return value
            if OmegaConf.is_config(found):
                return OmegaConf.to_container(found, resolve=True)
            return found

        return visit(node, key)


def _locate(tree: dict[str, Any], key: str) -> tuple[str | None, str]:
    """How `key` can be set: "set" (it exists), "add" (its parent does), "rebuild" (an ancestor,
    returned, is null or absent), or None (below something that is not a dict)."""
    parts = key.split(".")
    node: Any = tree
    for i, part in enumerate(parts):
        here = ".".join(parts[: i + 1])
        if part not in node:
            return ("add", here) if i == len(parts) - 1 else ("rebuild", here)
        if i == len(parts) - 1:
            return "set", here
        node = node[part]
        if node is None:
            return "rebuild", here
        if not isinstance(node, dict):
            return None, here
    return None, key


def _place(edit: _Edit, key: str, value: Any, base: list[str]) -> bool:
    """Set `key` (below `edit.key`) in the rebuilt node; False where it cannot go."""
    *path, leaf = key[len(edit.key) + 1 :].split(".")
    parent = edit.value
    for part in path:
        parent = parent.get(part)
        if not isinstance(parent, dict):
            return False
    if leaf not in parent and not accepts(parent, leaf):
        return False
    parent[leaf] = _rounded(value)
    edit.replaces += [i for i in _same_key(base, key) if i not in edit.replaces]
    return True


def _runtime(tree: dict[str, Any], key: str, text: str, seen: set[str] | None = None) -> bool:
    """Whether `text`, the value at `key`, depends on what a new run computes afresh."""
    if RUNTIME.search(text):
        return True
    seen = seen if seen is not None else {key}
    for ref in REFERENCE.findall(text):
        dots = len(ref) - len(ref.lstrip("."))
        where = key.split(".")[:-dots] if dots else []  # relative: from the node holding `key`
        target = ".".join([*where, ref.lstrip(".")])
        value = _at(tree, target)
        if target not in seen and isinstance(value, str):
            seen.add(target)
            if _runtime(tree, target, value, seen):
                return True
    return False


def _command(base: list[str], edits: list[_Edit]) -> list[str]:
    """The run's overrides with the edits applied in place of those they replace (else at the
    end), without the run's directory and checkpoint: a new run, not a resume."""
    first = {min(e.replaces): e for e in edits if e.replaces}
    replaced = {i for e in edits for i in e.replaces}
    out = []
    for i, override in enumerate(base):
        key = override_key(override)
        if i in first:  # keeps the + or ++ that added the key; after a ~ it is back by default
            edit = first[i]
            own = [base[j] for j in edit.replaces if _okey(base[j]) == edit.key]
            out.append(edit.text(re.match(r"\+*", own[0])[0] if own else None))
        elif i not in replaced and key not in NEW_RUN and not key.startswith("hydra."):
            out.append(override)
    return out + [e.text() for e in edits if not e.replaces]


def override_key(override: str) -> str:
    """The key an override sets: `+a.b=1` -> `a.b`, `~a` -> `a`."""
    return override.lstrip("+~").split("=", 1)[0]


def _same_key(base: list[str], key: str) -> list[int]:
    return [i for i, o in enumerate(base) if _okey(o) == key]


def _nulls(override: str, key: str) -> bool:
    """Whether `override` deletes `key` (~key) or sets it to null."""
    null = override.startswith("~") or override.partition("=")[2].strip().lower() == "null"
    return null and _okey(override) == key


def _okey(override: str) -> str:
    return override_key(override).replace("/", ".")  # a group's path (model/scheduler) is its key


def _at(tree: Any, key: str) -> Any:
    """The raw value at dotted `key` of a plain container, or ABSENT."""
    node = tree
    for part in key.split(".") if key else []:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return ABSENT
    return node


def _rounded(value: Any) -> Any:
    """`value` as its override text gives it back (floats to 4 significant digits)."""
    if isinstance(value, float):
        return float(fmt(value))
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _hydra_text(value: Any) -> str:
    """`value` in Hydra's override grammar, read back as the same value."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_hydra_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_hydra_text(v) for v in value) + "]"
    if isinstance(value, float):  # 4 digits where exact (a rebuilt node keeps its values)
        short = fmt(value)
        return short if float(short) == value and any(c in short for c in ".ein") else repr(value)
    if not isinstance(value, str):
        return value_text(value)
    if INTERPOLATION.fullmatch(value) or (PLAIN.fullmatch(value) and value.lower() not in WORDS):
        return value
    # quoted: a backslash is doubled only before a quote or at the end (Hydra's escaping)
    value = re.sub(r"(\\*)'", lambda m: m[1] * 2 + "\\'", value)
    return "'" + re.sub(r"(\\+)$", lambda m: m[1] * 2, value) + "'"
