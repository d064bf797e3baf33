"""The README's commands work as written: the quick start, and the steps of "Start your project"
that add data, a net and an experiment of one's own (their files are taken from the README too)."""

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
from tensorboard_server import running_tensorboard

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
        if argv[0] in ("pip", "pytest") or argv[:2] == ["python", "tests/install_browser.py"]:
            # the set-up and the suite itself: .ci/run runs them
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
        runs = server.poll_json("/data/runs", lambda runs: len(runs) >= 2)
    # the run's curves, and its HPARAMS row beside them
    assert len(runs) == 2 and {run.rsplit("/", 1)[-1] for run in runs} == {"tensorboard", "best"}


WALK_THROUGH = "Start your project"
# What only the template's README has (scripts/new_project.py removes it): the steps below are
# the same before and after a project is started.
TEMPLATE_ONLY = re.compile(r"^<!-- template(?:: \w+)? -->\n.*?^<!-- /template -->\n", re.M | re.S)


def walk_through() -> str:
    """The steps of "Start your project" that add data, a net and an experiment."""
    return TEMPLATE_ONLY.sub("", section(WALK_THROUGH))


def test_walk_through_adds_data_a_net_and_an_experiment(tmp_path):
    """In a copy of the project: write the README's files, run its commands (training shortened
    to 3 epochs), and check the run used them and eval reproduces its test metrics."""
    text = walk_through()
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
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
            written.append(match.group(1))
    assert sorted(written) == [
        "conf/data/recordings.yaml",
        "conf/experiment/iris.yaml",
        "src/my_project/data/recordings.py",
        "src/my_project/nets/residual.py",
    ]
    env = script_env()  # the copy's packages, with the new modules, come first
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
            assert "_target_: trainkit.data.ArrayDataModule" in shown
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


def readme_file(name: str) -> str:
    """The body of the walk-through's block that starts with `# name`."""
    return next(body for _, body in blocks(walk_through()) if body.startswith(f"# {name}\n"))


def test_walk_through_data_module_loads_checks_and_standardises_per_channel(tmp_path):
    """The README's own data module, built from its own config: sessions stacked, statistics
    per channel from the training split, and errors that say what to set."""
    import numpy as np
    import yaml
    from omegaconf import OmegaConf

    from trainkit.errors import TrainkitError

    namespace: dict = {}
    source = readme_file("src/my_project/data/recordings.py")
    exec(compile(source, "recordings.py", "exec"), namespace)  # the module as the README has it
    module = namespace["RecordingsDataModule"]
    folder = tmp_path / "recordings"
    folder.mkdir()
    rng = np.random.default_rng(0)
    scale = np.array([1.0, 100.0, 0.01])[None, :, None]  # channels on very different scales
    for session in range(2):
        signals = rng.normal(5.0, 1.0, (60, 3, 20)) * scale
        np.savez(folder / f"s{session}.npz", signals=signals, labels=np.arange(60) % 4)

    config = yaml.safe_load(readme_file("conf/data/recordings.yaml"))
    assert config.pop("_target_") == "my_project.data.recordings.RecordingsDataModule"
    resolved = OmegaConf.create({"paths": {"data_dir": str(tmp_path)}, "seed": 0, "data": config})
    data = module(**OmegaConf.to_container(resolved, resolve=True)["data"])
    data.setup()
    x, y = data.splits["train"]
    assert sum(len(split[1]) for split in data.splits.values()) == 120
    assert x.shape[1:] == (3, 20) and set(y.tolist()) == {0, 1, 2, 3}
    assert data.feature_mean.shape == (1, 3, 1)  # one mean per channel
    assert np.allclose(x.mean(dim=(0, 2)).numpy(), 0, atol=1e-4)
    assert np.allclose(x.std(dim=(0, 2)).numpy(), 1, atol=1e-2)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TrainkitError, match="holds no .npz files; set data.folder"):
        module(folder=str(empty), in_channels=3, num_classes=4).setup()
    with pytest.raises(TrainkitError, match=r"not \(2, length\); set data.in_channels"):
        module(folder=str(folder), in_channels=2, num_classes=4).setup()
