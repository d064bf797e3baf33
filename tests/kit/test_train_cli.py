"""The real script, end to end: every experiment trains and leaves a complete run directory."""

from __future__ import annotations

import json

import pytest
from conftest import TINY, read_summary, run_script

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


@pytest.mark.parametrize("name", TINY)
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
        if name == "tiny_regression"
        else {"loss", "acc", "f1", "precision", "recall"}
    )
    for split in ("val", "test"):
        assert {f"{split}/{m}" for m in expected} <= set(summary["metrics"])
    assert f"test/{'r2' if name == 'tiny_regression' else 'acc'}" in summary["baseline"]
    assert "Run directory" in result.stdout


def test_help_and_cfg_answer_without_training(tmp_path):
    help_result = run_script("train.py", "+experiment=tiny_cnn", "--help", cwd=tmp_path)
    assert help_result.returncode == 0
    lines = help_result.stdout.splitlines()
    # every experiment Hydra can find, those its search path adds (tests/conf) included
    groups = help_result.stdout.split("== Config ==")[0].splitlines()
    listed = next(line for line in groups if line.startswith("experiment: "))
    names = listed.removeprefix("experiment: ").split(", ")
    assert set(TINY) <= set(names) and names == sorted(names)
    assert "trainer: ddp, ddp_cpu, default" in lines
    assert "    _target_: tiny.TinyCNN" in lines  # model.net, with the overrides
    cfg_result = run_script("train.py", "+experiment=tiny_cnn", "--cfg", "job", cwd=tmp_path)
    assert cfg_result.returncode == 0
    assert "tiny.TinyCNN" in cfg_result.stdout
    assert not (tmp_path / "logs").exists()


def test_config_mistake_is_one_clear_line_and_starts_no_run(tmp_path):
    result = run_script(
        "train.py",
        "+experiment=tiny_binary",
        "data.batch_size=0",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 2
    assert "data.batch_size must be a whole number, 1 or more, got 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_error_inside_the_run_is_recorded_as_failed(tmp_path):
    # the data module's own check, past the command-line checks: the run directory says why
    from conftest import compose_train

    from trainkit.errors import TrainkitError
    from trainkit.run.train import train

    run_dir = tmp_path / "run"
    cfg = compose_train(run_dir, ["+experiment=tiny_binary", "data.num_features=7"])
    with pytest.raises(TrainkitError, match="data.num_features is 7"):
        train(cfg)
    summary = read_summary(run_dir)
    assert summary["status"] == "failed" and summary["stop_reason"] == "error"
    assert "data.num_features is 7" in summary["error"]


def test_non_finite_loss_gives_plain_json_and_no_best_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    result = run_script(
        "train.py",
        "+experiment=tiny_regression",
        "model/optimizer=sgd",
        "model.optimizer.lr=1000",
        "trainer.max_epochs=5",
        f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    text = (run_dir / "summary.json").read_text()
    summary = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert summary["stop_reason"] == "non_finite_loss"
    assert summary["best_checkpoint"] is None
