"""scripts/eval.py: the test metrics of a checkpoint, number for number as training reported."""

from __future__ import annotations

import pytest
from conftest import read_summary, run_script, train_script


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("train") / "run"
    args = ["+experiment=tiny_multiclass", "trainer.max_epochs=3", "data.eval_batch_size=7"]
    return train_script(run_dir, *args)


def test_eval_reproduces_training_test_metrics_exactly(trained, tmp_path):
    eval_dir = tmp_path / "eval"
    result = run_script(
        "eval.py", f"ckpt_path={trained / 'checkpoints' / 'best.ckpt'}", f"hydra.run.dir={eval_dir}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    trained_metrics = read_summary(trained)["metrics"]
    summary = read_summary(eval_dir)
    assert summary["experiment"] == "tiny_multiclass" and summary["status"] == "completed"
    assert set(summary["metrics"]) == {k for k in trained_metrics if k.startswith("test/")}
    for key, value in summary["metrics"].items():
        assert value == trained_metrics[key], key  # bit for bit: same weights, data and code
    assert summary["baseline"]["test/acc"] == read_summary(trained)["baseline"]["test/acc"]
    assert list((eval_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert "Run directory" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ckpt_path=/nonexistent/best.ckpt"], "Checkpoint not found"),
        ([], "ckpt_path is required"),
    ],
)
def test_eval_bad_checkpoint_is_one_clear_line(tmp_path, args, message):
    result = run_script("eval.py", *args, f"hydra.run.dir={tmp_path / 'eval'}")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
