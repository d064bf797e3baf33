"""Faults of the machine and stops from outside: a full disk, Ctrl-C in eval.py, a run that
stops while it starts. Each ends in one plain line, a summary.json, and nothing lost."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from conftest import read_summary, run_script
from omegaconf import OmegaConf
from test_checkpoint_trust import tampered

from trainkit.checkpoints.files import load_checkpoint
from trainkit.cli.launch import run_or_explain
from trainkit.errors import ForeignRunError


def _config(run_dir, ckpt_path=None):
    return OmegaConf.create(
        {"paths": {"output_dir": str(run_dir)}, "experiment": "x", "ckpt_path": ckpt_path}
    )


def test_a_job_stopped_before_it_wrote_anything_still_leaves_a_summary(tmp_path, capsys):
    def interrupted(cfg):
        raise KeyboardInterrupt

    def broken(cfg):
        raise OSError(28, "No space left on device", str(tmp_path / "a" / "x"))

    def refused(cfg):
        raise ForeignRunError("another run holds it")

    for name, job, code, status in [
        ("a", interrupted, 130, "interrupted"),
        ("b", broken, 2, "failed"),
        ("c", refused, 2, None),
    ]:
        (tmp_path / name).mkdir()
        with pytest.raises(SystemExit) as stopped:
            run_or_explain(job, _config(tmp_path / name))
        assert stopped.value.code == code
        summary = tmp_path / name / "summary.json"
        assert summary.exists() == (status is not None)
        if status:
            assert read_summary(tmp_path / name)["status"] == status
    # Ctrl-C while the job's own module still imports (torch loads for seconds)
    (tmp_path / "slow_job.py").write_text("raise KeyboardInterrupt\n")
    (tmp_path / "d").mkdir()
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(SystemExit) as stopped:
            run_or_explain("slow_job.train", _config(tmp_path / "d"))
    finally:
        sys.path.remove(str(tmp_path))
    assert stopped.value.code == 130
    assert read_summary(tmp_path / "d")["status"] == "interrupted"
    err = capsys.readouterr().err
    assert "Interrupted." in err and "Error: Cannot use" in err and "the disk is full" in err


class InterruptingData:
    """Source of a package the test writes: a data module that gets Ctrl-C while it loads."""

    SOURCE = (
        "import os, signal\n"
        "from trainkit.data import ArrayDataModule\n\n"
        "class Data(ArrayDataModule):\n"
        "    def setup(self, stage=None):\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        super().setup(stage)\n"
    )


def test_ctrl_c_during_eval_says_interrupted_and_leaves_a_summary(
    tmp_path, trained_runs, monkeypatch
):
    best = trained_runs["tiny_binary"][0] / "checkpoints" / "best.ckpt"
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    tampered(best, ckpt, torch.load(best, weights_only=True)["trainkit"]["config"]["model"]["net"])
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["trainkit"]["config"]["data"]["_target_"] = "interrupting_data.Data"
    torch.save(checkpoint, ckpt)
    package = tmp_path / "lib" / "interrupting_data"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(InterruptingData.SOURCE)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "lib"))  # run_script adds tests/ to it
    result = run_script(
        "eval.py", f"ckpt_path={ckpt}", "trusted_packages=[interrupting_data]",
        f"hydra.run.dir={tmp_path / 'eval'}",
    )  # fmt: skip
    assert result.returncode == 130, result.stderr[-2000:]
    assert "Interrupted" in result.stderr and "Traceback" not in result.stderr
    assert f"python scripts/eval.py ckpt_path={ckpt}" in result.stderr  # run it again
    assert read_summary(tmp_path / "eval")["status"] == "interrupted"


@pytest.fixture
def small_disk(tmp_path):
    """A 20 MiB file system (tmpfs), which the test fills up while the run trains."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip("mounting a small file system needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_disk_that_fills_up_mid_run_keeps_last_ckpt_and_says_how_to_go_on(small_disk):
    run = small_disk / "run"
    filler = small_disk / "filler"
    result = run_script(
        "train.py", "+experiment=tiny_binary", "trainer.max_epochs=200",
        "callbacks.early_stopping.patience=200", "callbacks.progress_bar=null",
        f"hydra.run.dir={run}", "+callbacks.fill._target_=hooks.FillDiskAfter",
        "+callbacks.fill.epochs=2", f"+callbacks.fill.path={filler}",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "the disk is full" in errors[0] or "disk is full" in errors[0]
    assert f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}" in errors[0]
    # the last good states are whole: the failed write never replaced them
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["epoch"] >= 1
    load_checkpoint(run / "checkpoints" / "best.ckpt")
    assert not [p.name for p in (run / "checkpoints").iterdir() if "partial" in p.name]
    assert result.stderr.count("Error") == 1  # no thread traceback, no second complaint
