"""The examples' quality floors: a default run, exactly as a user types it, reaches its floor."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import read_summary
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def floor_id(value: object) -> str | None:
    """Test ids that read like the command line: `+experiment=regression data=linear`."""
    return " ".join(value) if isinstance(value, tuple) else None


def run_reaches_floor(
    converged_runs: Callable[..., Path], args: tuple[str, ...], metric: str, floor: float
) -> dict:
    """Train with `args` as scripts/train.py does (the run is shared with the contract test's
    check of the same command); check the floor and a healthy default run.

    Returns the run's summary.
    """
    run_dir = converged_runs(*args)
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
    return summary
