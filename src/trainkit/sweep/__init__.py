"""Sweeps: the metric a sweep optimises, the checks before it starts, the ranked summary after."""

from trainkit.sweep.callbacks import SweepSetup, SweepSummary
from trainkit.sweep.target import objective, sweep_target, worst_value

__all__ = ["SweepSetup", "SweepSummary", "objective", "sweep_target", "worst_value"]
