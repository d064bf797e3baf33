"""The default experiments, run exactly as a user types them, reach the quality floors."""

from __future__ import annotations

import pytest
import torch
from conftest import read_summary, run_script
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

FLOORS = [
    (("+experiment=regression",), "test/r2", 0.40),
    (("+experiment=regression", "data=linear"), "test/r2", 0.99),
    (("+experiment=binary",), "test/acc", 0.95),
    (("+experiment=multiclass",), "test/acc", 0.94),
    (("+experiment=cnn",), "test/acc", 0.97),
]


@pytest.mark.parametrize(
    ("args", "metric", "floor"), FLOORS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else None
)
def test_default_run_reaches_floor(tmp_path, args, metric, floor):
    run_dir = tmp_path / "run"
    result = run_script("train.py", *args, f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read_summary(run_dir)
    print(
        f"{' '.join(args)}: {metric}={summary['metrics'][metric]:.4f} "
        f"({summary['stop_reason']} after {summary['epochs_completed']} epochs, "
        f"{summary['wall_time_s']} s)"
    )
    assert summary["metrics"][metric] >= floor
    # a healthy default run: the training doctor has nothing to say
    assert summary["diagnostics"] == [], summary["diagnostics"]
    # both the scheduler and early stopping really fire in the default runs
    assert summary["stop_reason"] == "early_stopping"
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    rates = [e.value for e in events.Scalars("lr-Adam")]
    assert min(rates) < rates[0], "ReduceLROnPlateau never lowered the learning rate"
    if "data=linear" in args:
        state = torch.load(run_dir / summary["best_checkpoint"], weights_only=True)["state_dict"]
        slope, bias = float(state["net.weight"]), float(state["net.bias"])
        assert abs(slope - 2.0) <= 0.05 and abs(bias - 1.0) <= 0.05, (slope, bias)
