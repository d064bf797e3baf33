"""The Makefile, the GitHub workflow and the pre-commit hooks run the same commands as the README
and .ci/run, so every way to set up, test or lint the project is the same one."""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib.metadata import metadata, requires
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

MAKE = shutil.which("make")
needs_make = pytest.mark.skipif(MAKE is None, reason="`make` is not installed")
LINT = ["ruff check .", "ruff format --check ."]
TARGETS = ("install", "train", "test", "tb", "format", "lint", "clean", "clean-data")
TORCH_CPU = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


def ci_commands() -> list[str]:
    """The commands .ci/run runs: every line but comments, `set` and `cd`."""
    lines = (line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines())
    return [line for line in lines if line and not line.startswith(("#", "set ", "cd "))]


def quick_start() -> list[str]:
    """The commands of the README's quick start, without their comments."""
    block = re.search(r"## Quick start\s+```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert block, "the README has no quick-start code block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def readme_command(start: str) -> str:
    return next(command for command in quick_start() if command.startswith(start))


def make_n(*args: str, cwd: Path = REPO) -> list[str]:
    """The commands `make` would run, one per line, without running them."""
    done = subprocess.run(
        [MAKE, "-n", "--no-print-directory", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return [line.strip() for line in done.stdout.splitlines()]


def test_ci_runs_the_readme_set_up_then_pytest():
    setup = [readme_command("pip install"), readme_command("python tests/install_browser.py")]
    assert ci_commands() == [*setup, readme_command("pytest")]


@needs_make
def test_make_targets_run_the_readme_and_ci_commands():
    setup, browser, test = ci_commands()
    assert make_n("install") == [setup, browser]
    assert make_n("test") == [test]
    assert make_n("tb") == [readme_command("tensorboard")]
    # a project with no experiment yet has no training line: `make train` then needs ARGS
    train = next((c for c in quick_start() if c.startswith("python scripts/train.py")), None)
    assert make_n("train") == [train or "python scripts/train.py"]
    assert make_n("train", "PYTHON=python3", "ARGS=+experiment=binary seed=3") == [
        "python3 scripts/train.py +experiment=binary seed=3"
    ]
    assert make_n("lint") == LINT
    assert make_n("format") == ["ruff check --fix .", "ruff format ."]


@needs_make
def test_make_alone_lists_every_target():
    targets = re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), re.M)
    shown = subprocess.run([MAKE, "-s"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0, shown.stderr
    assert [line.split()[0] for line in shown.stdout.splitlines()] == targets
    assert set(TARGETS) <= set(targets)


@needs_make
def test_make_targets_are_phony(tmp_path):
    """A file named like a target (`test`, `clean`...) must not make that target a no-op."""
    shutil.copy(REPO / "Makefile", tmp_path)
    for target in TARGETS:
        (tmp_path / target).write_text("")
        assert make_n(target, cwd=tmp_path) == make_n(target), f"`make {target}` is not phony"


@needs_make
def test_make_clean_removes_runs_and_caches_but_keeps_data(tmp_path):
    shutil.copy(REPO / "Makefile", tmp_path)
    removed = ["logs/cnn/runs/1/summary.json", "outputs/a.log", "multirun/a.log"]
    removed += [".pytest_cache/v", ".ruff_cache/v", "notebooks/.ipynb_checkpoints/a.ipynb"]
    removed += ["src/pkg/__pycache__/a.pyc", "tests/__pycache__/b.pyc", "scripts/__pycache__/c.pyc"]
    kept = ["Makefile", "src/pkg/a.py", "tests/b.py", "scripts/c.py", "data/digits/d.csv"]
    for path in removed + kept[1:]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")

    subprocess.run([MAKE, "-s", "clean"], cwd=tmp_path, check=True, timeout=30)
    left = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert left == set(kept)
    assert not list(tmp_path.rglob("__pycache__")) and not (tmp_path / "logs").exists()

    subprocess.run([MAKE, "-s", "clean-data"], cwd=tmp_path, check=True, timeout=30)
    assert not (tmp_path / "data").exists()


@needs_make
def test_make_clean_removes_only_ignored_paths():
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    removed = [
        word for line in make_n("clean") if line.startswith("rm -rf ") for word in line.split()[2:]
    ]
    assert "logs" in removed and "data" not in removed
    for path in removed:
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", "--no-index", path + "/"], cwd=REPO, timeout=30
        )
        assert ignored.returncode == 0, f"`make clean` removes {path}/, which git does not ignore"


def workflow() -> dict:
    return yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())


def test_workflow_runs_the_ci_commands_and_lint():
    flow = workflow()
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert {"push", "pull_request"} <= set(triggers)
    for name, job in flow["jobs"].items():
        steps = job["steps"]
        commands = [line.strip() for step in steps for line in step.get("run", "").splitlines()]
        setup, browser, test = ci_commands()
        # .ci/run's commands, in its order; CPU torch before the set-up, lint before the tests
        assert setup in commands and browser in commands and test in commands, name
        assert commands.index(TORCH_CPU) < commands.index(setup) < commands.index(browser)
        assert commands.index(browser) < commands.index(test)
        for check in LINT:
            assert commands.index(setup) < commands.index(check) < commands.index(test)
        python = next(step for step in steps if step.get("uses", "").startswith("actions/setup-"))
        assert python["uses"].startswith("actions/setup-python@")
        assert python["with"]["cache"] == "pip"


def test_workflow_pythons_are_ones_the_package_supports():
    supported = SpecifierSet(metadata("trainkit")["Requires-Python"])
    for job in workflow()["jobs"].values():
        pythons = job["strategy"]["matrix"]["python-version"]
        assert "3.11" in pythons
        assert all(Version(python) in supported for python in pythons), pythons


def test_pre_commit_pins_a_ruff_the_project_accepts():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    repos = {repo["repo"]: repo for repo in config["repos"]}
    ruff = repos["https://github.com/astral-sh/ruff-pre-commit"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", ruff["rev"]), "pin an exact ruff release"
    assert [hook["id"] for hook in ruff["hooks"]] == ["ruff-check", "ruff-format"]
    assert "--fix" in ruff["hooks"][0]["args"]
    # the dev extra's ruff requirement (exact once pinned there) must allow the hook's ruff
    dev_ruff = next(
        Requirement(text)
        for text in requires("trainkit")
        if Requirement(text).name == "ruff" and 'extra == "dev"' in text
    )
    assert Version(ruff["rev"][1:]) in dev_ruff.specifier, (ruff["rev"], str(dev_ruff))
    hooks = repos["https://github.com/pre-commit/pre-commit-hooks"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", hooks["rev"])
    assert {hook["id"] for hook in hooks["hooks"]} >= {
        "trailing-whitespace",
        "end-of-file-fixer",
        "check-yaml",
        "check-added-large-files",
        "check-merge-conflict",
    }
