"""Every kind of bad input gets one clear sentence from the real script: exit code 2, no
traceback, nothing of an earlier run touched."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import QUIET, REPO, read_summary, run_script, script_env, train_script
from tiny import DATA_ENV


def assert_clear_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(error) == 1, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in error[0], error[0]


def snapshot(folder) -> dict[str, str]:
    """Every file below `folder` with a hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- mistakes on the command line: caught before a run directory exists ------------------------
TEST_DATA = Path(os.environ[DATA_ENV])  # set by conftest.py before this module is imported
# a table of 2 features (any existing file: the command line is refused before it is read)
TABLE = ["data=csv", "data.path=pyproject.toml", "data.num_features=2"]
COMMAND_LINE = {
    "unknown experiment": (
        ["+experiment=tiny_cnnn"],
        [
            "Unknown experiment 'tiny_cnnn'",
            "Did you mean tiny_cnn?",
            "tiny_binary, tiny_cnn, tiny_multiclass, tiny_regression",
        ],
    ),
    "experiment without plus": (
        ["experiment=tiny_cnn"],
        ["Write +experiment=tiny_cnn (with the plus)"],
    ),
    "misspelled key": (
        ["+experiment=tiny_cnn", "trainer.max_epoch=5"],
        ["trainer.max_epoch is not a config key", "Did you mean trainer.max_epochs?"],
    ),
    "two misspelled keys": (
        ["callbacks.early_stopping.patiense=3", "trainr.max_epochs=3"],
        ["callbacks.early_stopping.patiense is not a config key", "Did you mean"],
    ),
    "misspelled group": (
        ["data=arrayss"],
        ["Unknown data config 'arrayss'", "Did you mean arrays?"],
    ),
    "group set with a dot": (
        ["+experiment=tiny_cnn", "model.optimizer=sgd"],
        ["model.optimizer is a config group: write model/optimizer=sgd"],
    ),
    "wrong type": (
        ["+experiment=tiny_cnn", "trainer.max_epochs=abc"],
        ["trainer.max_epochs must be a whole number, 1 or more, got 'abc' (text)"],
    ),
    "zero learning rate": (
        ["+experiment=tiny_binary", "model.optimizer.lr=0"],
        ["model.optimizer.lr must be a number above 0, got 0"],
    ),
    "negative batch size": (
        ["+experiment=tiny_binary", "data.batch_size=-4"],
        ["data.batch_size must be a whole number, 1 or more, got -4"],
    ),
    "value left unset": (
        ["data=csv"],
        ["data.path and data.num_features and model.net have no value yet"],
    ),
    "key in the wrong place": (["max_epochs=5"], ["Did you mean trainer.max_epochs?"]),
    "option instead of override": (["--max_epochs", "5"], ["settings are key=value overrides"]),
    "table data with an image model": (
        [*TABLE, "+experiment=tiny_cnn"],
        [
            "model.net.in_channels needs data.in_channels, which this data config does not define",
            "pick a model made for this kind of data",
        ],
    ),
    "array file without the sizes an image model takes": (
        ["+experiment=tiny_cnn", f"data.path={TEST_DATA / 'wine.npz'}"],
        [
            "model.net.in_channels takes data.in_channels, which is null for this data",
            "data.num_features=13",
            "use a net made for this kind of data",
        ],
    ),
    "number of classes left unset": (
        ["+experiment=tiny_multiclass", *TABLE],
        ["data.num_classes must be a whole number, 2 or more, got null"],
    ),
    "seed beyond 32 bits": (
        ["+experiment=tiny_binary", "seed=4294967296"],
        ["seed must be a whole number from 0 to 4294967295", "got 4294967296"],
    ),
    "monitor names no logged metric": (
        ["+experiment=tiny_binary", "monitor=val/nonexistent"],
        ["monitor=val/nonexistent is not a metric this model logs", "val/acc", "train/loss"],
    ),
    "early stopping watches no logged metric": (
        ["+experiment=tiny_regression", "callbacks.early_stopping.monitor=val/acc"],
        ["callbacks.early_stopping.monitor=val/acc is not a metric", "val/mse", "val/r2"],
    ),
    "no logger for the learning-rate monitor": (
        ["+experiment=tiny_binary", "~logger"],
        ["There is no logger, but callbacks.lr_monitor", "~callbacks.lr_monitor"],
    ),
    "no best checkpoint to test": (
        ["+experiment=tiny_binary", "~callbacks.model_checkpoint"],
        ["No callback keeps the best checkpoint", "test=false"],
    ),
    "optimized metric the model never reports": (
        ["+experiment=tiny_regression", "optimized_metric=val/acc"],
        ["optimized_metric=val/acc is not a metric of this model's summary.json", "test/r2"],
    ),
    "config group set to null": (
        ["+experiment=tiny_binary", "callbacks=null"],
        ["callbacks=null: a config group is not set to null", "write ~callbacks", "default"],
    ),
    "empty split": (
        ["+experiment=tiny_binary", "data.val_fraction=0"],
        ["data.val_fraction must be a number between 0 and 1 (both excluded), got 0"],
    ),
}


@pytest.mark.parametrize("case", COMMAND_LINE, ids=list(COMMAND_LINE))
def test_command_line_mistake(tmp_path, case):
    args, fragments = COMMAND_LINE[case]
    run_dir = tmp_path / "run"
    result = run_script("train.py", *args, f"hydra.run.dir={run_dir}")
    assert_clear_error(result, *fragments)
    assert not run_dir.exists()  # nothing was started, nothing to clean up


# -- mistakes found in the data or the model: the run directory says what failed ---------------
def write_csv(path, rows: list[str]) -> str:
    path.write_text("\n".join(["a,b,label", *rows]) + "\n")
    return str(path)


GOOD_ROWS = [f"{i % 7},{(3 * i) % 5},{i % 2}" for i in range(40)]
CSV = ["+experiment=tiny_binary", "data=csv", "data.num_features=2", "data.num_classes=2"]


def data_cases(tmp_path) -> dict:
    nan = write_csv(tmp_path / "nan.csv", [*GOOD_ROWS, "1,,0", "nan,2,1"])
    inf = write_csv(tmp_path / "inf.csv", [*GOOD_ROWS, "1,inf,0"])
    tiny = write_csv(tmp_path / "tiny.csv", GOOD_ROWS[:3])
    text = write_csv(tmp_path / "text.csv", [*GOOD_ROWS, "red,1,0"])
    semi = tmp_path / "semi.csv"
    semi.write_text("a;b;label\n" + "\n".join(r.replace(",", ";") for r in GOOD_ROWS) + "\n")
    return {
        "NaN in the inputs": (
            [*CSV, f"data.path={nan}"],
            ["2 NaN and 0 infinite values in its inputs", "data rows 41, 42", "columns a, b"],
        ),
        "Inf in the inputs": ([*CSV, f"data.path={inf}"], ["0 NaN and 1 infinite values"]),
        "too few samples to split": (
            [*CSV, f"data.path={tiny}"],
            ["Too few samples to split: 3 in all, and class 1 has only 1", "Add samples"],
        ),
        "text in a feature": ([*CSV, f"data.path={text}"], ["column 'a' holds text ('red'"]),
        "semicolon-separated file": (
            [*CSV, f"data.path={semi}"],
            ["has a single column. Is it separated by ';'?"],
        ),
        "labels out of range": (
            ["+experiment=tiny_multiclass", "model.num_classes=2", "model.net.out_features=2"],
            ["Labels outside [0, 2)", "data.num_classes=3"],
        ),
        "net output does not fit the task": (
            ["+experiment=tiny_multiclass", "model.net.out_features=5"],
            ["The net returns shape", "(N, 3)"],
        ),
        "net input does not fit the data": (
            ["+experiment=tiny_regression", "model.net.in_features=5"],
            ["model.net cannot take this data's inputs", "shape (89, 10)"],
        ),
    }


DATA_IDS = [
    "NaN in the inputs",
    "Inf in the inputs",
    "too few samples to split",
    "text in a feature",
    "semicolon-separated file",
    "labels out of range",
    "net output does not fit the task",
    "net input does not fit the data",
]


@pytest.mark.parametrize("case", DATA_IDS, ids=DATA_IDS)
def test_data_or_model_mistake(tmp_path, case):
    args, fragments = data_cases(tmp_path)[case]
    run_dir = tmp_path / "run"
    result = run_script("train.py", *args, *QUIET, f"hydra.run.dir={run_dir}")
    assert_clear_error(result, *fragments)
    summary = read_summary(run_dir)
    assert summary["status"] == "failed" and summary["stop_reason"] == "error"
    assert fragments[0] in summary["error"]
    assert not (run_dir / "checkpoints" / "last.ckpt").exists()


# -- checkpoints --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cnn") / "run"
    return train_script(run_dir, "+experiment=tiny_cnn", "trainer.max_epochs=2", *QUIET)


def bad_checkpoints(folder, cnn_run) -> dict:
    last = cnn_run / "checkpoints" / "last.ckpt"
    data = last.read_bytes()
    (folder / "truncated.ckpt").write_bytes(data[: len(data) // 2])
    (folder / "corrupt.ckpt").write_bytes(b"not a checkpoint at all" * 100)
    torch.save({"state_dict": {}, "payload": folder}, folder / "pickled.ckpt")
    (folder / "flipped.ckpt").write_bytes(flipped_weights(data))
    return {
        "missing": (folder / "missing.ckpt", ["Checkpoint not found", "missing.ckpt"]),
        "truncated": (folder / "truncated.ckpt", ["cannot be read: it is truncated"]),
        "corrupt": (folder / "corrupt.ckpt", ["cannot be read: it is truncated"]),
        "pickled objects": (folder / "pickled.ckpt", ["holds pickled Python objects"]),
        "flipped bits": (folder / "flipped.ckpt", ["does not match its checksum"]),
    }


def flipped_weights(data: bytes) -> bytes:
    """A whole archive whose largest tensor's bytes changed (torch itself would load it)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        member = max(archive.infolist(), key=lambda info: info.file_size)
    at = member.header_offset
    start = at + 30 + int.from_bytes(data[at + 26 : at + 28], "little")
    start += int.from_bytes(data[at + 28 : at + 30], "little")  # past the local header
    changed = bytearray(data)
    for i in range(start, start + min(64, member.compress_size)):
        changed[i] ^= 0x80  # sign bits of the first weights
    return bytes(changed)


# every kind of damage, and every script, at least once
BAD_CHECKPOINTS = [
    ("train.py", "missing"),
    ("train.py", "truncated"),
    ("eval.py", "corrupt"),
    ("eval.py", "pickled objects"),
    ("eval.py", "flipped bits"),
    ("predict.py", "truncated"),
]


@pytest.mark.parametrize(("script", "kind"), BAD_CHECKPOINTS)
def test_bad_checkpoint(tmp_path, cnn_run, script, kind):
    path, fragments = bad_checkpoints(tmp_path, cnn_run)[kind]
    before = snapshot(cnn_run)
    extra = ["+experiment=tiny_cnn"] if script == "train.py" else []
    result = run_script(script, *extra, f"ckpt_path={path}", f"hydra.run.dir={tmp_path / 'out'}")
    assert_clear_error(result, *fragments)
    assert snapshot(cnn_run) == before


def test_checkpoint_from_another_experiment_or_shape_is_refused_untouched(tmp_path, cnn_run):
    last = cnn_run / "checkpoints" / "last.ckpt"
    before = snapshot(cnn_run)
    other = run_script("train.py", "+experiment=tiny_binary", f"ckpt_path={last}")
    assert_clear_error(
        other,
        "was written by experiment 'tiny_cnn', but this run is 'tiny_binary'",
        "python scripts/train.py +experiment=tiny_cnn",
    )
    narrower = "+model.net.width=8"  # TinyCNN takes it; the experiment leaves it at 16
    shape = run_script("train.py", "+experiment=tiny_cnn", narrower, f"ckpt_path={last}")
    assert_clear_error(shape, "does not fit this model", "in the checkpoint but")
    # fewer epochs than already trained
    shorter = run_script(
        "train.py", "+experiment=tiny_cnn", "trainer.max_epochs=1", f"ckpt_path={last}"
    )
    assert_clear_error(shorter, "has already trained 2 epochs")
    # same weights, other data split: resuming would train on the earlier validation rows
    reseeded = run_script("train.py", "+experiment=tiny_cnn", "seed=7", f"ckpt_path={last}")
    assert_clear_error(reseeded, "trained with a different config: data.seed: 42 -> 7")
    # both attempts resolved to the checkpoint's own run directory, and left it as it was
    assert snapshot(cnn_run) == before
    assert not list((cnn_run / ".hydra").glob("resumed_*"))
    assert read_summary(cnn_run)["status"] == "completed"


def test_a_checkpoint_without_its_record_is_checked_against_its_run_config(tmp_path, cnn_run):
    """No config stamped in the checkpoint: the run's .hydra/config.yaml says what it was."""
    run = tmp_path / "run"
    shutil.copytree(cnn_run, run)
    last = run / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    checkpoint.pop("trainkit")
    torch.save(checkpoint, last)
    before = snapshot(run)
    changed = run_script(
        "train.py", "+experiment=tiny_cnn", "model.optimizer.lr=0.5", f"ckpt_path={last}"
    )
    assert_clear_error(changed, "trained with a different config: model.optimizer.lr")
    assert snapshot(run) == before


def test_hydra_full_error_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    env = {**script_env(), "HYDRA_FULL_ERROR": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "scripts/train.py",
            "+experiment=tiny_binary",
            "data.batch_size=0",
            f"hydra.run.dir={tmp_path / 'run'}",  # not a failed run in the repository's logs/
        ],  # fmt: skip
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "data.batch_size" in result.stderr
