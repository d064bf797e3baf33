"""Shared helpers: compose the real configs, run the real scripts, read run directories.

The kit's tests train the tiny experiments of tests/conf/experiment/ (data saved from
scikit-learn into a temporary folder, nets from tests/tiny.py), never the examples, so a project
that drops every example keeps every kit test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from tiny import DATA_ENV, write_data

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
TESTS = REPO / "tests"
# The kit's test experiments (tests/conf/experiment/), one of each kind.
TINY = ("tiny_regression", "tiny_binary", "tiny_multiclass", "tiny_cnn")
# Small and quiet: no progress bar, no model summary table.
QUIET = ["callbacks.progress_bar=null", "trainer.enable_model_summary=false"]
# Bit-equal reruns and resumes: the CPU is deterministic as it is; on a GPU, cuDNN and atomic
# adds are not, unless Lightning's deterministic mode is on.
REPRODUCIBLE = ["trainer.deterministic=true"] if torch.cuda.is_available() else []


def pytest_configure(config) -> None:
    """Write the test data once per session; scripts started by the tests inherit its folder."""
    if not os.environ.get(DATA_ENV):
        folder = Path(tempfile.mkdtemp(prefix="trainkit-test-data-"))
        write_data(folder)
        os.environ[DATA_ENV] = str(folder)
        config._trainkit_data = folder  # removed again at the end of the session


def pytest_unconfigure(config) -> None:
    folder = getattr(config, "_trainkit_data", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(DATA_ENV, None)


def compose_train(run_dir: Path, overrides: list[str]):
    """The composed train config, writing into `run_dir` (no Hydra app, so paths are set here).

    Data paths stay those of the repository (`${paths.data_dir}` is its data/ folder, where an
    experiment of yours may keep its file); runs and logs go below run_dir's parent.
    """
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"paths.root_dir={REPO}",
                f"paths.log_dir={run_dir.parent / 'logs'}",
                f"paths.output_dir={run_dir}",
                *QUIET,
                *overrides,
            ],
        )


def script_env() -> dict[str, str]:
    """The environment of a script run: tests/ importable (for test-only callbacks), no
    HYDRA_FULL_ERROR (users see the short errors)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    return env


def run_script(script: str, *args: str, cwd: Path = REPO, timeout: int = 300):
    """Run scripts/<script> as a user would; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), *args],
        cwd=cwd,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def train_until(marker: Path, *args: str, timeout: float = 300) -> subprocess.Popen:
    """scripts/train.py with `args`, started in the background; returns once the run wrote
    `marker` (a test callback's sign that it reached a known point), still running."""
    process = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "train.py"), *args],
        cwd=REPO,
        env=script_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + timeout
    while not marker.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists(), f"the run never reached its marker: {process.communicate()[1][-2000:]}"
    return process


def train_script(run_dir: Path, *args: str, timeout: int = 300) -> Path:
    """scripts/train.py with `args`, writing into `run_dir`; it must succeed. Returns run_dir."""
    result = run_script("train.py", *args, f"hydra.run.dir={run_dir}", timeout=timeout)
    assert result.returncode == 0, result.stdout[-1000:] + result.stderr[-3000:]
    return run_dir


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def scalar_curves(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag as TensorBoard shows it: (step, value) points, restarts purged."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


class BriefRuns(dict):
    """{experiment: (run_dir, cfg)}: each experiment trained in process for three epochs, on
    first use, with batch sizes that leave partial batches where its data config has them."""

    def __init__(self, folder_for) -> None:
        super().__init__()
        self.folder_for = folder_for

    def __missing__(self, name: str) -> tuple[Path, object]:
        from trainkit.run.train import train

        run_dir = self.folder_for(name) / "run"
        overrides = [f"+experiment={name}", "trainer.max_epochs=3"]
        data = compose_train(run_dir, overrides).data
        overrides += [f"data.{k}={v}" for k, v in PARTIAL.items() if k in data]
        cfg = compose_train(run_dir, overrides)
        train(cfg)
        self[name] = (run_dir, cfg)
        return self[name]


# 37 and 25 divide none of the test data sets' splits: every epoch ends on a partial batch.
PARTIAL = {"batch_size": 37, "eval_batch_size": 25}


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory) -> BriefRuns:
    """Shared by the kit's tests and the contract test: one brief run per experiment."""
    return BriefRuns(tmp_path_factory.mktemp)


@pytest.fixture(scope="session")
def converged_runs(tmp_path_factory):
    """`converged_runs("+experiment=cnn")`: the run directory of scripts/train.py run exactly as a
    user types it (the experiment's own settings, to early stopping or max_epochs), trained once
    per session and shared by every test that asks for the same command line."""
    cache: dict[tuple[str, ...], Path] = {}

    def get(*args: str) -> Path:
        if args not in cache:
            # a whole run: minutes on a busy CPU
            run_dir = tmp_path_factory.mktemp("converged") / "run"
            cache[args] = train_script(run_dir, *args, timeout=900)
        return cache[args]

    return get


def check_search(search_file: Path, experiment: str, run_dir: Path) -> None:
    """Every key an Optuna search config varies exists in `experiment`, and the search's
    optimized_metric and optimized_mode agree."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    from trainkit.sweep import sweep_target

    source = OmegaConf.load(search_file)
    params = [f"{k}={v}" for k, v in source.hydra.sweeper.params.items()]
    cfg = compose_train(
        run_dir, [f"+experiment={experiment}", f"hparams_search={search_file.stem}"]
    )
    assert sweep_target(cfg) == (source.optimized_metric, source.optimized_mode)
    for override in OverridesParser.create().parse_overrides(params):
        key = override.get_key_element()
        assert override.is_sweep_override(), key
        assert OmegaConf.select(cfg, key, default="absent") != "absent", (experiment, key)
