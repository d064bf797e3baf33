"""Resume and interrupt: a stopped run continues in place and ends exactly where an
uninterrupted one ends; the same seed gives the same numbers; no two runs share a directory."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys

import pytest
import torch
from conftest import (
    QUIET,
    REPO,
    REPRODUCIBLE,
    compose_train,
    read_summary,
    run_script,
    scalar_curves,
    script_env,
    train_script,
    train_until,
)

CNN = ["+experiment=tiny_cnn", "trainer.max_epochs=3", *QUIET, *REPRODUCIBLE]
# digits: 1077 training images at batch 64 -> 17 batches per epoch
BATCHES_PER_EPOCH = 17


@pytest.fixture(scope="module")
def cnn_reference(tmp_path_factory):
    """The uninterrupted run every interrupted one is compared with."""
    return train_script(tmp_path_factory.mktemp("reference") / "run", *CNN)


def interrupt_at(run_dir, marker, signum, stage: str) -> subprocess.CompletedProcess:
    """Start a real training process and send it `signum` inside batch 5 of epoch 1's
    training, or inside the first batch of epoch 1's validation."""
    batch = 5 if stage == "train" else 0
    pause = (
        f"+callbacks.pause={{_target_: hooks.PauseAt, epoch: 1, batch: {batch}, "
        f"stage: {stage}, marker: '{marker}'}}"
    )
    process = train_until(marker, *CNN, pause, f"hydra.run.dir={run_dir}", timeout=180)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=180)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


CASES = {
    # (signal, where it lands) -> (global step, loader epoch, batches served) in last.ckpt
    # (SIGTERM mid-epoch takes the same path as SIGINT; SIGTERM and its exit code 143 are
    # checked in validation)
    "SIGINT-mid-epoch": (signal.SIGINT, "train", BATCHES_PER_EPOCH + 6, 1, 6),
    # during validation the run stops once the epoch is wholly done: validation, early
    # stopping and the scheduler's step included
    "SIGTERM-in-validation": (signal.SIGTERM, "val", 2 * BATCHES_PER_EPOCH, 1, BATCHES_PER_EPOCH),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_interrupt_then_resume_is_bit_equal(tmp_path, cnn_reference, case):
    signum, stage, step, loader_epoch, served = CASES[case]
    run_dir = tmp_path / "run"
    stopped = interrupt_at(run_dir, tmp_path / "marker", signum, stage)

    assert stopped.returncode == 128 + signum, stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr
    summary = read_summary(run_dir)
    assert summary["status"] == "interrupted" and summary["stop_reason"] == "interrupted"
    assert summary["resume_command"] in stopped.stderr  # printed for the user, word for word
    # last.ckpt holds the state where the run stopped (mid-epoch: after batch 5 of epoch 1)
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == step
    loader = last["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]
    assert (loader["epoch"], loader["served"]) == (loader_epoch, served)

    command = shlex.split(summary["resume_command"])
    assert command[:2] == ["python", "scripts/train.py"]
    resumed = subprocess.run(
        [sys.executable, *command[1:]],
        cwd=REPO,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final, reference = read_summary(run_dir), read_summary(cnn_reference)
    assert final["status"] == "completed"
    assert final["epochs_completed"] == reference["epochs_completed"] == 3
    assert final["metrics"] == reference["metrics"]  # bit for bit
    # the same TensorBoard run: every curve equal, no step twice, none missing
    assert scalar_curves(run_dir) == scalar_curves(cnn_reference)


def test_resume_continues_in_place_with_early_stopping_and_scheduler_state(tmp_path):
    """Train 4 epochs, then resume from last.ckpt with the short form (no hydra.run.dir): the
    run must stop on the same epoch by early stopping, with the same learning-rate drop and
    the same numbers as a run that was never stopped. (With these patiences the best epoch is
    2, the rate drops after epoch 4 and the run stops after epoch 6: both the scheduler's and
    early stopping's counts run across the resume.)"""
    regression = [
        "+experiment=tiny_regression",
        "callbacks.early_stopping.patience=4",
        "model.scheduler.patience=1",
        *QUIET,
    ]
    straight, first = tmp_path / "straight", tmp_path / "first"
    assert run_script("train.py", *regression, f"hydra.run.dir={straight}").returncode == 0
    part = run_script("train.py", *regression, "trainer.max_epochs=4", f"hydra.run.dir={first}")
    assert part.returncode == 0, part.stderr[-3000:]
    config = (first / ".hydra" / "config.yaml").read_bytes()

    resumed = run_script("train.py", *regression, f"ckpt_path={first}/checkpoints/last.ckpt")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Run directory: {first}" in " ".join(resumed.stdout.split())
    assert "exists and is not empty" not in resumed.stderr
    assert (first / ".hydra" / "config.yaml").read_bytes() == config  # the original is kept
    assert len(list((first / ".hydra").glob("resumed_*/config.yaml"))) == 1

    a, b = read_summary(first), read_summary(straight)
    assert b["stop_reason"] == "early_stopping" and b["epochs_completed"] > 4
    for key in ("stop_reason", "epochs_completed", "best_epoch", "metrics", "diagnostics"):
        assert a[key] == b[key], key
    curves, reference = scalar_curves(first), scalar_curves(straight)
    assert curves["lr-Adam"] == reference["lr-Adam"]
    rates = [v for _, v in reference["lr-Adam"]]
    assert len(set(rates[:4])) == 1 < len(set(rates))  # the scheduler cut the rate after the resume
    assert curves == reference
    # the doctor kept the history from before the resume
    doctor = torch.load(first / "checkpoints" / "last.ckpt", weights_only=True)["callbacks"][
        "TrainingDoctor"
    ]
    assert sorted(doctor["train_losses"]) == list(range(b["epochs_completed"]))


def test_same_seed_gives_identical_metrics_and_another_seed_does_not(tmp_path):
    """Seed controls the split, the initialisation, shuffling and augmentation (tiny_cnn has
    all)."""
    from trainkit.run.train import train

    def metrics(name: str, *extra: str) -> dict:
        overrides = ["+experiment=tiny_cnn", "trainer.max_epochs=2", *REPRODUCIBLE, *extra]
        return train(compose_train(tmp_path / name, overrides))["metrics"]

    first = metrics("first")
    assert metrics("again") == first
    assert metrics("other", "seed=7")["val/loss"] != first["val/loss"]


def test_two_runs_started_together_get_their_own_directories(tmp_path):
    args = [
        "+experiment=tiny_regression",
        "trainer.max_epochs=1",
        f"paths.log_dir={tmp_path}",
        *QUIET,
    ]
    processes = [
        subprocess.Popen(
            [sys.executable, "scripts/train.py", *args],
            cwd=REPO,
            env=script_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    assert [p.wait(timeout=300) for p in processes] == [0, 0]
    runs = sorted((tmp_path / "tiny_regression" / "runs").iterdir())
    assert len(runs) == 2
    assert all((run / "summary.json").is_file() for run in runs)


def test_a_resume_keeps_the_patience_given_now(tmp_path):
    """Extending a run that early stopping ended: the new patience counts, the old count stays."""
    from hydra.utils import instantiate

    cfg = compose_train(tmp_path / "run", ["+experiment=tiny_binary"])
    saved = instantiate(cfg.callbacks.early_stopping)  # the run that stopped at epoch 46
    saved.wait_count, saved.stopped_epoch = saved.patience, 46
    resumed = instantiate(cfg.callbacks.early_stopping, patience=30)
    resumed.load_state_dict(saved.state_dict())
    assert (resumed.patience, resumed.wait_count, resumed.stopped_epoch) == (30, 12, 0)
    assert resumed.best_score == saved.best_score
