"""scripts/new_project.py turns a fresh clone of the template into a project of its own.

Every test works on a copy of the current working tree, committed into a new git repository as a
fresh clone would be. (A started project no longer has this file: new_project.py removes it.)
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import QUIET, REPO, read_summary

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
SCRIPT = REPO / "scripts" / "new_project.py"
_spec = importlib.util.spec_from_file_location("new_project", SCRIPT)
new_project = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(new_project)

PACKAGE = new_project.PACKAGE
# The three starts the tests look at: (package name, --keep arguments).
STARTS = {
    "cnn": ("sigproj", ["--keep", "cnn"]),
    "tables": ("tabproj", ["--keep", "binary", "regression"]),
    "none": ("bareproj", ["--keep"]),
}
# Not copied into the clone: git's own folder, what runs and installs leave, caches.
TOP_IGNORED = {".git", "logs", "data", "outputs", "multirun", "build", "dist"}
IGNORED = {"__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"}


# -- helpers ---------------------------------------------------------------------------------
def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def clone_of_working_tree(dest: Path) -> Path:
    """The working tree as it is now (uncommitted files included), as a fresh clone."""

    def ignore(folder: str, names: list[str]) -> list[str]:
        top = Path(folder) == REPO
        return [
            n
            for n in names
            if n in IGNORED or n.endswith(".egg-info") or (top and n in TOP_IGNORED)
        ]

    shutil.copytree(REPO, dest, ignore=ignore)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    commit(dest, "t")
    return dest


def commit(cwd: Path, message: str) -> None:
    """Commit everything staged, whatever the user's git identity and signing settings."""
    who = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    who += ["-c", "commit.gpgsign=false"]
    git(cwd, *who, "commit", "-qam", message)


def env_for(clone: Path) -> dict[str, str]:
    """A user's shell in the clone: its src/ first on the Python path, short errors."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HYDRA_FULL_ERROR")}
    env["PYTHONPATH"] = str(clone / "src")
    return env


def run_new_project(clone: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "scripts/new_project.py", *args]
    return subprocess.run(
        command, cwd=clone, env=env_for(clone), capture_output=True, text=True, timeout=60
    )


def text_files(root: Path) -> dict[str, str]:
    """Every text file of a clone, by path relative to it (git's folder left out)."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and not relative.startswith(".git/") and "__pycache__" not in relative:
            try:
                found[relative] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
    return found


def snapshot(root: Path) -> tuple:
    """Every file with a hash of its contents, git's view of them, and the commit checked out."""
    files = {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }
    status = git(root, "status", "--porcelain", "--untracked-files=all")
    return files, status, git(root, "ls-files", "-s"), git(root, "rev-parse", "HEAD")


def assert_refused(clone: Path, args: list[str], *expected: str) -> str:
    """new_project.py says one `Error:` line, exits 2 and changes nothing."""
    before = snapshot(clone)
    done = run_new_project(clone, *args)
    lines = done.stderr.splitlines()
    assert done.returncode == 2, (args, done.stdout, done.stderr)
    assert len(lines) == 1 and lines[0].startswith("Error: "), (args, done.stderr)
    assert done.stdout == "", done.stdout
    for text in expected:
        assert text in lines[0], (text, lines[0])
    assert snapshot(clone) == before, f"{args} changed the clone"
    return lines[0]


def owners(path: str) -> tuple[str, ...] | None:
    for examples, paths in new_project.MANIFEST.items():
        if path in paths:
            return examples
    return None


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return clone_of_working_tree(tmp_path_factory.mktemp("template") / "repo")


@pytest.fixture(scope="module")
def started(template, tmp_path_factory) -> dict[str, Path]:
    """Each start of STARTS, run once on its own copy of the template clone."""
    clones = {}
    for label, (name, keep) in STARTS.items():
        clone = tmp_path_factory.mktemp(label) / name
        shutil.copytree(template, clone, symlinks=True)
        done = run_new_project(clone, name, *keep)
        assert done.returncode == 0, (label, done.stdout, done.stderr)
        assert done.stderr == "" and f"Started {name}" in done.stdout, done.stdout
        clones[label] = clone
    return clones


# -- the manifest ----------------------------------------------------------------------------
def test_manifest_covers_every_file_of_the_examples():
    """Each file in the user's folders belongs to examples, or stays whatever is kept."""
    listed = [path for paths in new_project.MANIFEST.values() for path in paths]
    assert len(listed) == len(set(listed)), "a file is listed under two sets of examples"
    assert {e for examples in new_project.MANIFEST for e in examples} == set(new_project.EXAMPLES)
    missing = [path for path in listed if not (REPO / path).is_file()]
    assert not missing, f"the manifest lists files that are not here: {missing}"
    unowned = []
    for folder in new_project.USER_FOLDERS:
        for path in sorted((REPO / folder).rglob("*")):
            relative = path.relative_to(REPO).as_posix()
            mine = owners(relative) is not None or new_project.always_kept(relative)
            if path.is_file() and "__pycache__" not in path.parts and not mine:
                unowned.append(relative)
    assert not unowned, f"files of no example in MANIFEST, nor in KEPT_ALWAYS: {unowned}"
    experiments = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
    assert experiments == sorted(new_project.EXAMPLES)


def module_file(dotted: str) -> str | None:
    """The file that `my_project.a.b.Name` comes from (a module or a package), relative to the
    repository: the longest prefix that is one."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        base = "src/" + "/".join(parts[:end])
        for candidate in (f"{base}.py", f"{base}/__init__.py"):
            if (REPO / candidate).is_file():
                return candidate
    return None


def test_what_an_example_file_needs_stays_with_it():
    """A kept file never names a module or config that goes: what an example's file refers to
    belongs to the same examples (or more), or stays always."""
    problems = []
    for examples, paths in new_project.MANIFEST.items():
        for path in filter(lambda p: (REPO / p).is_file(), paths):
            text = (REPO / path).read_text()
            needed = [module_file(m) for m in re.findall(rf"\b{PACKAGE}(?:\.\w+)+", text)]
            needed += [
                f"conf/{group}/{name}.yaml"
                for group, name in re.findall(r"override /(data|model): (\w+)", text)
            ]
            for need in needed:
                assert need is not None, f"{path} names a module that is not here"
                if not new_project.always_kept(need) and not set(examples) <= set(
                    owners(need) or ()
                ):
                    problems.append(f"{path} ({examples}) needs {need} ({owners(need)})")
            for experiment in re.findall(r"\+experiment=(\w+)", text):
                if experiment not in examples:
                    problems.append(f"{path} ({examples}) names +experiment={experiment}")
    assert not problems, problems


def test_readme_marks_each_example_and_shows_a_valid_start():
    text = (REPO / "README.md").read_text()
    new_project.check_readme(text)  # raises on a block that is unknown or not closed
    marked = {
        n for kind, names, _, _ in new_project.README_BLOCK.findall(text) for n in names.split()
    }
    assert set(new_project.EXAMPLES) <= marked, "an example has no part of the README marked"
    commands = re.findall(r"^python scripts/new_project\.py (.*?)(?:  +#.*)?$", text, re.M)
    assert commands, "the README does not show how to run new_project.py"
    for command in commands:
        args = new_project.parse(command.split())
        assert set(args.keep or ()) <= set(new_project.EXAMPLES), command


# -- refusals: one line, exit code 2, nothing changed ---------------------------------------
def test_refuses_bad_names_and_unknown_experiments(template, tmp_path):
    clone = shutil.copytree(template, tmp_path / "clone", symlinks=True)
    for name, why in [
        ("my-proj", "not a package name"),
        ("2fast", "not a package name"),
        ("MyProj", "not a package name"),
        ("class", "keyword"),
        ("trainkit", "the kit's package"),
        (PACKAGE, "stand-in"),
        ("test", "standard library"),
        ("json", "standard library"),
        ("torch", "importable here already"),
        ("train", "importable here already"),  # scripts/train.py
        ("conftest", "tests/"),
        ("conf", "folder of this repository"),
    ]:
        assert_refused(clone, [name], why)
    line = assert_refused(clone, ["sigproj", "--keep", "cnn", "cnnn"], "unknown experiment 'cnnn'")
    assert "did you mean cnn?" in line
    assert_refused(clone, [], "NAME")  # argparse's own complaint, in one line too


def test_refuses_a_dirty_work_tree_and_a_started_project(template, tmp_path):
    clone = shutil.copytree(template, tmp_path / "clone", symlinks=True)
    with (clone / "README.md").open("a") as readme:
        readme.write("\nA line of mine.\n")
    assert_refused(clone, ["sigproj"], "uncommitted changes", "README.md")
    git(clone, "checkout", "--", "README.md")
    (clone / "notes.txt").write_text("mine\n")
    assert_refused(clone, ["sigproj"], "uncommitted changes", "notes.txt")
    (clone / "notes.txt").unlink()

    pyproject = clone / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('name = "trainkit"', 'name = "mine"', 1))
    commit(clone, "named")
    assert_refused(clone, ["sigproj"], "started already", "'mine'")


# -- what a start leaves ---------------------------------------------------------------------
def kept_of(label: str) -> list[str]:
    return STARTS[label][1][1:]


@pytest.mark.parametrize("label", list(STARTS))
def test_start_keeps_only_the_named_examples(started, label):
    clone, (name, _) = started[label], STARTS[label]
    kept = kept_of(label)
    assert not (clone / "src" / PACKAGE).exists() and (clone / "src" / name).is_dir()
    assert not (clone / "tests/kit/test_new_project.py").exists()
    for examples, paths in new_project.MANIFEST.items():
        for path in paths:
            here = (clone / path.replace(f"src/{PACKAGE}/", f"src/{name}/")).is_file()
            wanted = (REPO / path).is_file() and bool(set(examples) & set(kept))
            assert here == wanted, (path, examples, kept)
    for path in ("conf/data/arrays.yaml", "conf/model/classification.yaml", "conf/model/optimizer"):
        assert (clone / path).exists(), path
    experiments = sorted(p.stem for p in (clone / "conf/experiment").glob("*.yaml"))
    assert experiments == sorted(kept)
    assert (clone / "conf/experiment/README.md").is_file() == (not kept)  # the folder stays

    files = text_files(clone)
    assert not [path for path, text in files.items() if PACKAGE in text or PACKAGE in path]
    # nothing names a module or a config of a dropped example
    gone = [
        path
        for examples, paths in new_project.MANIFEST.items()
        if not set(examples) & set(kept)
        for path in paths
    ]
    modules = [
        p[4:-3].replace(f"{PACKAGE}/", f"{name}/").replace("/", ".")
        for p in gone
        if p.startswith("src/")
    ]
    # a config chosen in a config file or the Makefile, or by a command-line argument in code
    # ("+experiment=binary"; a docstring's example of a command line is no dependency)
    configs = [
        (group, Path(p).stem)
        for p in gone
        if (group := Path(p).parent.name) in ("data", "model", "experiment", "hparams_search")
    ]
    users = tuple(f"{f}/".replace(f"/{PACKAGE}/", f"/{name}/") for f in new_project.USER_FOLDERS)
    users += ("Makefile",)
    for path, text in files.items():
        found = [m for m in modules if re.search(rf"\b{re.escape(m)}\b", text)]
        if path.startswith(users):
            start = r"[\"'][+]?" if path.endswith(".py") else r"(?:^|[\s/+])"
            found += [
                f"{group}={config}"
                for group, config in configs
                if re.search(rf"{start}{group}(?:=|: ){config}\b", text, re.MULTILINE)
            ]
        assert not found, f"{path} still names {found}"

    readme = files["README.md"]
    head = readme[: readme.index("## Start your project")]
    assert head.startswith(f"# {name}\n") and "<!--" not in readme
    assert set(re.findall(r"\+experiment=(\w+)", head)) == set(kept)
    template_readme = (REPO / "README.md").read_text()
    for kind, names, body, _ in new_project.README_BLOCK.findall(template_readme):
        if kind == "template" or not set(names.split()) & set(kept):
            assert body not in readme, f"the README keeps a part about {names or kind}"
        else:
            assert body.replace(PACKAGE, name) in readme, f"the README lost a part about {names}"
    if not kept:
        quick_start = head[head.index("```bash") : head.index("```\n\n")]
        assert "There is no experiment yet" in head and "scripts/train.py" not in quick_start

    pyproject = files["pyproject.toml"]
    assert f'\nname = "{name}"\n' in pyproject and f'"{name}[sweep,slurm]"' in pyproject
    args = f"ARGS ?= +experiment={kept[0]}\n" if kept else "ARGS ?=\n"
    assert args in files["Makefile"]

    # staged for review, not committed: the package shows as renamed
    assert git(clone, "log", "--format=%s") == "t\n"
    assert git(clone, "diff", "--name-only") == "", "a change is left unstaged"
    status = git(clone, "status", "--short").splitlines()
    assert f"R  src/{PACKAGE}/__init__.py -> src/{name}/__init__.py" in status


def test_second_run_is_refused(started):
    clone = started["cnn"]
    assert_refused(clone, ["other"], "started already (as sigproj)")
    assert_refused(clone, ["other", "--keep", "cnn"], "started already")


# Compose each experiment named on the command line in a project and build its data module and
# net: python -c BUILD PROJECT OUTPUT_DIR EXPERIMENT ...
BUILD = """
import sys
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from trainkit.cli.resolvers import register

register()
project, output, *experiments = sys.argv[1:]
for name in experiments:
    with initialize_config_dir(config_dir=f"{project}/conf", version_base="1.3"):
        paths = [f"paths.root_dir={project}", f"paths.output_dir={output}"]
        cfg = compose("train", overrides=[f"+experiment={name}", *paths])
    data, net = instantiate(cfg.data), instantiate(cfg.model.net)
    print(name, type(data).__name__, type(net).__name__)
"""


# -- a started project works -----------------------------------------------------------------
@pytest.mark.slow
def test_started_project_imports_and_trains_its_experiments(started, tmp_path):
    """The kept experiments build (data module, net) and cnn trains an epoch; the package
    imports from the project's src/ whatever was kept."""
    bare = started["none"]
    done = subprocess.run(
        [sys.executable, "-c", "import bareproj, bareproj.data, bareproj.nets"],
        cwd=bare,
        env=env_for(bare),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr

    tables = started["tables"]
    done = subprocess.run(
        [sys.executable, "-c", BUILD, str(tables), str(tmp_path / "build"), "binary", "regression"],
        cwd=tables,
        env=env_for(tables),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "binary ArrayDataModule MLP",
        "regression ArrayDataModule Linear",
    ]

    clone = started["cnn"]
    run_dir = tmp_path / "run"
    args = ["+experiment=cnn", "trainer.max_epochs=1", f"hydra.run.dir={run_dir}", *QUIET]
    done = subprocess.run(
        [sys.executable, "scripts/train.py", *args],
        cwd=clone,
        env=env_for(clone),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["experiment"] == "cnn"
    assert "sigproj.nets.cnn.SimpleCNN" in (run_dir / ".hydra" / "config.yaml").read_text()


@pytest.mark.slow
def test_started_project_without_examples_collects_its_tests(started):
    clone = started["none"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=clone,
        env=env_for(clone),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " tests collected" in done.stdout or " collected" in done.stdout, done.stdout[-500:]
