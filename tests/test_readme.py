"""The README's commands work as written: the quick start, and the walk-through that adds a
data set, a net and an experiment of one's own (its files are taken from the README too)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import QUIET, REPO, read_summary, script_env
from test_tensorboard_server import running_tensorboard

README = (REPO / "README.md").read_text()
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
FILE_LINE = re.compile(r"# (\S+\.(?:py|yaml))")


def section(title: str) -> str:
    """The text under `## title`, up to the next level-2 heading."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return BLOCK.findall(text)


def commands(text: str) -> list[list[str]]:
    """Every command line of the text's bash blocks, split as the shell would (comments off)."""
    found = []
    for language, body in blocks(text):
        if language == "bash":
            found += [argv for line in body.splitlines() if (argv := shlex.split(line, True))]
    return found


def run(argv: list[str], cwd: Path, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run a README command; `python` is this interpreter."""
    argv = [sys.executable, *argv[1:]] if argv[0] == "python" else argv
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{shlex.join(argv)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def only_run(log_dir: Path) -> Path:
    runs = [p.parent for p in log_dir.rglob("summary.json")]
    assert len(runs) == 1, runs
    return runs[0]


def test_quick_start(tmp_path):
    """Set-up and tests are .ci/run's own commands; training runs (tiny), TensorBoard serves it."""
    ci = [shlex.split(line, True) for line in (REPO / ".ci" / "run").read_text().splitlines()]
    todo = commands(section("Quick start"))
    assert todo, "no commands found in the quick start"
    env, logs = script_env(), tmp_path / "logs"
    for argv in todo:
        line = shlex.join(argv)
        if argv[0] in ("pip", "pytest"):  # the set-up and the suite itself: .ci/run runs them
            assert argv in ci, f"'{line}' is not a command of .ci/run"
        elif argv[:2] == ["python", "scripts/train.py"]:
            tiny = ["trainer.max_epochs=1", f"paths.log_dir={logs}", *QUIET]
            run([*argv, *tiny], REPO, env)
            assert read_summary(only_run(logs))["status"] == "completed"
        elif argv[0] == "tensorboard":
            assert argv[1:] == ["--logdir", "logs"], line
            serves_a_run(logs, tmp_path)
        else:
            pytest.fail(f"the quick start's '{line}' is run by no test: add it here")


def serves_a_run(logdir: Path, scratch: Path) -> None:
    """`tensorboard --logdir <logdir>` lists the run trained there."""
    with running_tensorboard(logdir, scratch) as server:
        runs = server.poll_json("/data/runs", bool)
    assert len(runs) == 1 and runs[0].endswith("tensorboard"), runs


WALK_THROUGH = "Your own data, net and experiment, step by step"


def test_walk_through_adds_a_data_set_a_net_and_an_experiment(tmp_path):
    """In a copy of the project: write the README's files, run its commands (training shortened
    to 3 epochs), and check the run used them and eval reproduces its test metrics."""
    text = section(WALK_THROUGH)
    clone = tmp_path / "clone"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for part in ("conf", "scripts", "src"):
        shutil.copytree(REPO / part, clone / part, ignore=skip)
    written = []
    for language, body in blocks(text):
        # a file's path is its first line, or its second under a `# @package` line
        head = [line for line in body.splitlines()[:2] if not line.startswith("# @package")]
        if language in ("python", "yaml") and (match := FILE_LINE.fullmatch(head[0])):
            path = clone / match.group(1)
            assert not path.exists(), f"the walk-through overwrites {match.group(1)}"
            path.write_text(body)
            written.append(match.group(1))
    assert sorted(written) == [
        "conf/data/iris.yaml",
        "conf/experiment/iris.yaml",
        "conf/model/residual_mlp.yaml",
        "src/trainkit/data/npz.py",
        "src/trainkit/nets/residual.py",
    ]
    env = script_env()  # the copy's trainkit, with the new modules, comes first
    env["PYTHONPATH"] = os.pathsep.join([str(clone / "src"), env["PYTHONPATH"]])
    run_dir = None
    steps = commands(text)
    assert [argv[:2] for argv in steps] == [
        ["mkdir", "-p"],
        ["python", "-c"],
        ["python", "scripts/train.py"],
        ["python", "scripts/train.py"],
        ["python", "scripts/eval.py"],
    ]
    for argv in steps:
        if argv[1] == "scripts/train.py" and "--cfg" in argv:
            shown = run(argv, clone, env).stdout
            assert "_target_: my_project.nets.residual.ResidualMLP" in shown
            assert "_target_: trainkit.data.npz.NpzDataModule" in shown
        elif argv[1] == "scripts/train.py":
            run([*argv, "trainer.max_epochs=3", *QUIET], clone, env)
            run_dir = only_run(clone / "logs" / "iris")
        elif argv[1] == "scripts/eval.py":
            assert run_dir is not None, "eval comes after training"
            relative = run_dir.relative_to(clone).as_posix()
            argv = [a.replace("logs/iris/runs/<run>", relative) for a in argv]
            run(argv, clone, env)
        else:
            run(argv, clone, env)
    assert (clone / "data" / "iris.npz").is_file()

    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["experiment"] == "iris"
    assert summary["epochs_completed"] == 3
    assert sum(summary["data"]["sizes"].values()) == 150, summary["data"]
    metrics, baseline = summary["metrics"], summary["baseline"]
    assert metrics["test/acc"] > baseline["test/acc"], (metrics, baseline)
    hydra_config = (run_dir / ".hydra" / "config.yaml").read_text()
    assert "my_project.nets.residual.ResidualMLP" in hydra_config

    evaluation = only_run(clone / "logs" / "eval")
    evaluated = json.loads((evaluation / "summary.json").read_text())["metrics"]
    for key, value in metrics.items():
        if key.startswith("test/"):
            assert evaluated[key] == pytest.approx(value, abs=1e-6), key


def test_walk_through_data_module_says_what_to_fix(tmp_path):
    """The walk-through's own error messages: a missing file, a wrong feature count."""
    source = next(
        body for language, body in blocks(section(WALK_THROUGH)) if "NpzDataModule" in body
    )
    namespace: dict = {}
    exec(compile(source, "npz.py", "exec"), namespace)  # the module exactly as the README has it
    module = namespace["NpzDataModule"]
    from trainkit.errors import TrainkitError

    with pytest.raises(TrainkitError, match="does not exist; set data.path"):
        module(path=str(tmp_path / "missing.npz"), num_features=4, num_classes=3).setup()
    import numpy as np

    np.savez(tmp_path / "five.npz", x=np.zeros((30, 5)), y=np.arange(30) % 3)
    with pytest.raises(TrainkitError, match="has 5 features; set data.num_features=5"):
        module(path=str(tmp_path / "five.npz"), num_features=4, num_classes=3).setup()
