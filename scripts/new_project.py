"""Start your project from this template, once, in a fresh clone:

    python scripts/new_project.py NAME [--keep EXPERIMENT ...]

The examples' package (src/my_project) becomes your package NAME (the kit, src/trainkit, stays);
only the example experiments named after --keep stay, with their code, configs, tests and README
parts (all of them without --keep, none with --keep alone); pyproject.toml and the README are
named for NAME. The change is staged in git for review, not committed.
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import importlib.util
import keyword
import re
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "my_project"  # the examples' package: the one that takes the project's name
KIT = "trainkit"
EXAMPLES = ("cnn", "regression", "binary", "multiclass")  # the first kept one leads the README

# What belongs to which example: a file goes unless one of the examples it is listed under is kept.
MANIFEST: dict[tuple[str, ...], tuple[str, ...]] = {
    ("regression",): (
        "conf/experiment/regression.yaml",
        "conf/data/diabetes.yaml",
        "conf/data/linear.yaml",
        "conf/model/linear_regression.yaml",
        "conf/hparams_search/regression_optuna.yaml",
        "src/my_project/data/diabetes.py",
        "src/my_project/data/linear.py",
        "tests/examples/test_regression.py",
    ),
    ("binary",): (
        "conf/experiment/binary.yaml",
        "conf/data/breast_cancer.yaml",
        "conf/model/mlp_binary.yaml",
        "src/my_project/data/breast_cancer.py",
        "tests/examples/test_binary.py",
    ),
    ("multiclass",): (
        "conf/experiment/multiclass.yaml",
        "conf/data/wine.yaml",
        "conf/model/mlp_multiclass.yaml",
        "src/my_project/data/wine.py",
        "tests/examples/test_multiclass.py",
    ),
    ("binary", "multiclass"): (
        "src/my_project/nets/mlp.py",
        "conf/hparams_search/mlp_optuna.yaml",
        "tests/examples/test_mlp.py",
    ),
    ("regression", "binary", "multiclass", "cnn"): ("tests/examples/floors.py",),
    ("cnn",): (
        "conf/experiment/cnn.yaml",
        "conf/data/digits.yaml",
        "conf/data/mnist.yaml",
        "conf/data/fashion_mnist.yaml",
        "conf/data/cifar10.yaml",
        "conf/model/cnn.yaml",
        "conf/hparams_search/cnn_optuna.yaml",
        "src/my_project/data/images.py",
        "src/my_project/data/image_files.py",
        "src/my_project/nets/cnn.py",
        "tests/examples/test_cnn.py",
    ),
}
# The folders the examples live in; every file there is in MANIFEST or in KEPT_ALWAYS.
USER_FOLDERS = (
    "src/my_project",
    "conf/data",
    "conf/model",
    "conf/experiment",
    "conf/hparams_search",
    "tests/examples",
)
# Generic configs and the package's skeleton, kept whatever is kept (fnmatch patterns).
KEPT_ALWAYS = (
    "conf/data/arrays.yaml",
    "conf/data/csv.yaml",
    "conf/model/classification.yaml",
    "conf/model/regression.yaml",
    "conf/model/optimizer/*",
    "conf/model/scheduler/*",
    "src/my_project/__init__.py",
    "src/my_project/data/__init__.py",
    "src/my_project/nets/__init__.py",
    # the doctor's no-false-alarm runs, over whichever examples are kept
    "tests/examples/test_doctor_healthy.py",
)
# The template's own test of this script: it starts fresh clones, which a started project is not.
TEMPLATE_ONLY = ("tests/kit/test_new_project.py",)

# README parts: <!-- example: NAME ... --> stays if one of the names is kept; <!-- template -->
# goes; <!-- template: head --> (title and quick start) is written anew for the project.
README_BLOCK = re.compile(
    r"^<!-- (example|template)(?:: ([\w ]+?))? -->\n(.*?)^<!-- /\1 -->\n(\n)?",
    re.MULTILINE | re.DOTALL,
)
# conf/experiment/ of a project started without an example, so that the folder stays.
EXPERIMENTS_README = """# Experiments

One YAML file per experiment, starting with `# @package _global_`:
`python scripts/train.py +experiment=<file name>` trains it. The README's "Start your project"
shows one.
"""
NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_]*")


class Refusal(Exception):
    """A reason not to start; nothing has changed yet."""


class Parser(argparse.ArgumentParser):
    """argparse, with its usage errors in one `Error:` line."""

    def error(self, message: str) -> None:
        usage = " ".join(self.format_usage().split(": ", 1)[-1].split())
        print(f"Error: {message}. Usage: {usage}", file=sys.stderr)
        raise SystemExit(2)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(
        prog="python scripts/new_project.py",
        description="Start your project from the trainkit template (once, in a fresh clone).",
    )
    parser.add_argument("name", metavar="NAME", help="your package's name, e.g. sigproj")
    parser.add_argument(
        "--keep",
        nargs="*",
        metavar="EXPERIMENT",
        help=f"the example experiments to keep ({', '.join(EXAMPLES)}); all of them without "
        "--keep, none with --keep alone",
    )
    return parser.parse_args(argv)


# -- checks: all of them before anything changes -------------------------------------------------
def git(*args: str, check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {' '.join(done.stderr.split())}")
    return done.stdout


def project_name() -> str | None:
    """`name` of pyproject.toml's [project] table."""
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(r'^\[project\]\n(?:(?!^\[).*\n)*?name\s*=\s*"([^"]*)"', text, re.MULTILINE)
    return found.group(1) if found else None


def check_fresh() -> None:
    started = project_name()
    if started != KIT:
        raise Refusal(
            f"this project was started already (pyproject.toml names it '{started}'); "
            "new_project.py runs once, in a fresh clone of trainkit."
        )
    if not (ROOT / "src" / PACKAGE).is_dir():
        raise Refusal(
            f"src/{PACKAGE} is not here, so there is nothing to rename; run new_project.py in a "
            "fresh clone of trainkit."
        )


def check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        hint = re.sub(r"\W+", "_", name.lower()).strip("_") or "my_proj"
        hint = f"p{hint}" if hint[0].isdigit() else hint
        raise Refusal(
            f"'{name}' is not a package name: use lowercase letters, digits and underscores, "
            f"not starting with a digit (e.g. {hint})."
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise Refusal(f"'{name}' is a Python keyword; choose another name for your package.")
    if name == KIT:
        raise Refusal("'trainkit' is the kit's package, which stays; choose your own name.")
    if name == PACKAGE:
        raise Refusal(f"'{PACKAGE}' is the template's stand-in; choose your project's own name.")
    if name in sys.stdlib_module_names or name in sys.builtin_module_names:
        raise Refusal(
            f"'{name}' is a module of Python's standard library; a package of that name would "
            "shadow it. Choose another name."
        )
    spec = importlib.util.find_spec(name)
    if spec is not None:
        where = spec.origin or next(iter(spec.submodule_search_locations or []), "")
        paths = sysconfig.get_paths()
        installed = (Path(where).is_relative_to(paths[key]) for key in ("purelib", "platlib"))
        if Path(where).is_relative_to(paths["stdlib"]) and not any(installed):  # test, idlelib
            raise Refusal(
                f"'{name}' is a module of Python's standard library; a package of that name "
                "would shadow it. Choose another name."
            )
        raise Refusal(
            f"'{name}' is importable here already ({where}); a package of that name would "
            "shadow it or be shadowed by it. Choose another name."
        )
    if (ROOT / name).exists():
        raise Refusal(f"'{name}' is a folder of this repository; choose another name.")
    tests = ROOT / "tests"
    if any(p.stem == name for p in tests.rglob("*") if p.suffix == ".py" or p.is_dir()):
        raise Refusal(
            f"'{name}' is the name of a module or folder in tests/, which pytest puts on the "
            "Python path; choose another name."
        )


def present() -> list[str]:
    """The example experiments this clone holds."""
    return [e for e in EXAMPLES if (ROOT / "conf" / "experiment" / f"{e}.yaml").is_file()]


def check_keep(keep: list[str] | None, examples: list[str]) -> list[str]:
    """The experiments to keep, in the order given (all, led by cnn, without --keep)."""
    if keep is None:
        return examples
    for name in keep:
        if name not in examples:
            close = difflib.get_close_matches(name, examples, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise Refusal(
                f"unknown experiment '{name}'{hint}; the examples are: "
                f"{', '.join(sorted(examples))} (or --keep alone for none)."
            )
    return list(dict.fromkeys(keep))


def check_git() -> list[str]:
    """The tracked files, once git says the work tree is a clean clone of its own."""
    try:
        top = git("rev-parse", "--show-toplevel", check=False).strip()
    except FileNotFoundError:
        raise Refusal("git is not installed; new_project.py stages its change in git.") from None
    if not top or Path(top).resolve() != ROOT:
        raise Refusal(
            f"{ROOT} is not the top of a git clone; run new_project.py in a fresh clone of "
            "trainkit, so that its change can be reviewed with git."
        )
    dirty = git("status", "--porcelain", "--untracked-files=all").splitlines()
    if dirty:
        example = dirty[0][3:]
        raise Refusal(
            f"the work tree has uncommitted changes ({len(dirty)} files, e.g. {example}); commit "
            "or stash them first, so that new_project.py's change can be reviewed on its own."
        )
    return git("ls-files", "-z").split("\0")[:-1]


def check_readme(text: str) -> None:
    for kind, names, _, _ in README_BLOCK.findall(text):
        unknown = set(names.split()) - set(EXAMPLES) if kind == "example" else set()
        if unknown or (kind == "template" and names not in ("", "head")):
            raise Refusal(f"README.md has a block marked '{kind}: {names}' that is not known.")
    left = README_BLOCK.sub("", text)
    if "<!-- example" in left or "<!-- template" in left or "<!-- /" in left:
        raise Refusal("README.md has an example or template block that is not closed.")


def always_kept(path: str) -> bool:
    """A file of the user's folders that stays whatever is kept."""
    return any(fnmatch.fnmatch(path, pattern) for pattern in KEPT_ALWAYS)


# -- the change ----------------------------------------------------------------------------------
def owned(path: str, kept: list[str]) -> bool | None:
    """True: an example's file that stays; False: one that goes; None: no example's."""
    for owners, paths in MANIFEST.items():
        if path in paths:
            return any(owner in kept for owner in owners)
    return None


def quick_start(name: str, kept: list[str]) -> str:
    """The README's title and quick start, for the project."""
    rows = [['pip install -e ".[dev]"', "# set-up (Python 3.10+; no GPU? see Troubleshooting)"]]
    rows.append(
        ["python tests/install_browser.py", "# Chromium for the dashboard's browser test (apt)"]
    )
    if kept:
        others = f"; also {' | '.join(kept[1:])}" if kept[1:] else ""
        rows.append([f"python scripts/train.py +experiment={kept[0]}", f"# main job{others}"])
    rows.append(["pytest", "# the whole test suite"])
    rows.append(["tensorboard --logdir logs", "# dashboard review"])
    block = "\n".join(f"{command:<44} {comment}" for command, comment in rows)
    if kept:
        after = (
            "`make` lists the same commands as shortcuts (`make install`, "
            f'`make train ARGS="+experiment={kept[-1]} seed=3"`, `make test`, `make tb`, '
            "`make lint`, `make clean`). Each run gets its own directory under "
            "`logs/<experiment>/runs/<timestamp>/` ([A run directory](#a-run-directory))."
        )
    else:
        after = (
            "There is no experiment yet: [Start your project](#start-your-project) adds the "
            "first one (your data, your net, `conf/experiment/<name>.yaml`), and then "
            "`python scripts/train.py +experiment=<name>` trains it. `make` lists the same "
            "commands as shortcuts."
        )
    intro = (
        "Experiments on trainkit, a PyTorch Lightning + Hydra kit whose numbers are true by "
        f"construction: your code is in `src/{name}/` and `conf/`, the kit in `src/trainkit/` "
        "([Layout](#layout))."
    )
    fill = partial(textwrap.fill, width=100, break_long_words=False, break_on_hyphens=False)
    return (
        f"# {name}\n\n{fill(intro)}\n\n## Quick start\n\n```bash\n{block}\n```\n\n{fill(after)}\n"
    )


def readme(text: str, name: str, kept: list[str]) -> str:
    def block(match: re.Match) -> str:
        kind, names, body = match.group(1), match.group(2) or "", match.group(3)
        if kind == "template":
            return quick_start(name, kept) + "\n" if names == "head" else ""
        return body + (match.group(4) or "") if set(names.split()) & set(kept) else ""

    return README_BLOCK.sub(block, text)


def stub(name: str) -> str:
    """What scripts/new_project.py becomes: a refusal of a second run."""
    return (
        f'"""{name} was started from the trainkit template by this script, which runs once."""\n'
        "\nimport sys\n\nprint(\n"
        f'    "Error: this project was started already (as {name}); new_project.py runs once, "\n'
        '    "in a fresh clone of trainkit.",\n    file=sys.stderr,\n)\nsys.exit(2)\n'
    )


def edit(path: Path, change: Callable[[str], str]) -> None:
    text = path.read_text(encoding="utf-8")
    changed = change(text)
    if changed != text:
        path.write_text(changed, encoding="utf-8")


def pyproject(text: str, name: str) -> str:
    text = re.sub(r'^name = "trainkit"$', f'name = "{name}"', text, count=1, flags=re.MULTILINE)
    text = re.sub(
        r'^description = ".*"$',
        f'description = "{name}: experiments on trainkit (PyTorch Lightning + Hydra)."',
        text,
        count=1,
        flags=re.MULTILINE,
    )
    return text.replace('"trainkit[', f'"{name}[')  # the dev extra installs the others


def makefile(text: str, kept: list[str]) -> str:
    """`make train` trains the README's main experiment, or needs ARGS when there is none."""
    default = f" +experiment={kept[0]}" if kept else ""
    text = re.sub(r"^ARGS \?=.*$", f"ARGS ?={default}", text, count=1, flags=re.MULTILINE)
    shown = f"; default:{default}" if kept else ""
    return re.sub(r"; default: \+experiment=\w+", shown, text, count=1)


def is_text(path: Path) -> bool:
    data = path.read_bytes()
    if b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def start(name: str, kept: list[str], tracked: list[str]) -> dict[str, list[str]]:
    """Remove, rename, rewrite; stage it all. Returns what was done, for the closing lines."""
    dropped = [p for p in tracked if owned(p, kept) is False]
    dropped += [p for p in TEMPLATE_ONLY if p in tracked]
    if dropped:
        git("rm", "-q", "--", *dropped)
    git("mv", f"src/{PACKAGE}", f"src/{name}")
    edit(ROOT / "README.md", lambda text: readme(text, name, kept))
    edit(ROOT / "pyproject.toml", lambda text: pyproject(text, name))
    edit(ROOT / "Makefile", lambda text: makefile(text, kept))
    (ROOT / "scripts" / "new_project.py").write_text(stub(name), encoding="utf-8")
    if not kept:  # git keeps no empty folder, and Hydra then knows no experiment group at all
        (ROOT / "conf" / "experiment").mkdir(exist_ok=True)
        (ROOT / "conf" / "experiment" / "README.md").write_text(EXPERIMENTS_README)
    renamed = []
    for path in git("ls-files", "-z").split("\0")[:-1]:
        file = ROOT / path
        if file.is_file() and is_text(file) and PACKAGE in file.read_text(encoding="utf-8"):
            edit(file, lambda text: text.replace(PACKAGE, name))
            renamed.append(path)
    git("add", "-A")
    return {"dropped": dropped, "renamed": renamed}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        check_fresh()
        check_name(args.name)
        kept = check_keep(args.keep, present())
        tracked = check_git()
        check_readme((ROOT / "README.md").read_text(encoding="utf-8"))
    except Refusal as refusal:
        print(f"Error: {refusal}", file=sys.stderr)
        return 2
    try:
        done = start(args.name, kept, tracked)
    except (OSError, RuntimeError) as exc:
        print(
            f"Error: starting the project failed halfway ({exc}); `git reset --hard && git clean "
            "-fd` undoes the change (the work tree was clean before).",
            file=sys.stderr,
        )
        return 1
    gone = [e for e in EXAMPLES if e not in kept]
    status = git("status", "--short").splitlines()
    print(
        f"Started {args.name} (kept: {', '.join(kept) or 'no example'}; removed: "
        f"{', '.join(gone) or 'none'}). {len(status)} files changed, staged, not committed:\n"
        f"  src/{PACKAGE}/ -> src/{args.name}/; {len(done['dropped'])} files removed; "
        f"'{PACKAGE}' -> '{args.name}' in {len(done['renamed'])} files; README.md, "
        "pyproject.toml, Makefile named for the project.\nNext:\n"
        f'  pip install -e ".[dev]"            # installs {args.name} (and trainkit within it)\n'
        "  pytest\n"
        "  git status; git diff --staged       # review the change\n"
        f'  git commit -m "Start {args.name} from trainkit"'
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
