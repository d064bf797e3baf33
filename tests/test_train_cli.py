"""The real script, end to end: every experiment trains and leaves a complete run directory."""

from __future__ import annotations

import pytest
from conftest import EXPERIMENTS, read_summary, run_script

SUMMARY_KEYS = {
    "experiment": str,
    "status": str,
    "stop_reason": str,
    "epochs_completed": int,
    "best_checkpoint": str,
    "metrics": dict,
    "baseline": dict,
    "diagnostics": list,
}


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_trains_end_to_end(tmp_path, name):
    run_dir = tmp_path / "run"
    result = run_script(
        "train.py", f"+experiment={name}", "trainer.max_epochs=2", f"hydra.run.dir={run_dir}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert (run_dir / ".hydra" / "config.yaml").is_file()

    summary = read_summary(run_dir)
    for key, kind in SUMMARY_KEYS.items():
        assert isinstance(summary[key], kind), key
    assert summary["experiment"] == name
    assert summary["status"] == "completed"
    assert summary["stop_reason"] == "max_epochs"
    assert summary["epochs_completed"] == 2
    assert (run_dir / summary["best_checkpoint"]).is_file()
    expected = (
        {"loss", "mse", "mae", "r2"}
        if name == "regression"
        else {"loss", "acc", "f1", "precision", "recall"}
    )
    for split in ("val", "test"):
        assert {f"{split}/{m}" for m in expected} <= set(summary["metrics"])
    assert f"test/{'r2' if name == 'regression' else 'acc'}" in summary["baseline"]
    assert "Run directory" in result.stdout


def test_help_and_cfg_answer_without_training(tmp_path):
    help_result = run_script("train.py", "--help")
    assert help_result.returncode == 0
    assert "experiment" in help_result.stdout
    cfg_result = run_script("train.py", "+experiment=cnn", "--cfg", "job")
    assert cfg_result.returncode == 0
    assert "SimpleCNN" in cfg_result.stdout
    assert not (tmp_path / "logs").exists()


def test_config_mistake_is_one_clear_line(tmp_path):
    result = run_script(
        "train.py", "+experiment=binary", "data.batch_size=0", f"hydra.run.dir={tmp_path / 'run'}"
    )
    assert result.returncode != 0
    assert "data.batch_size must be a positive integer" in result.stderr
    assert "Traceback" not in result.stderr
