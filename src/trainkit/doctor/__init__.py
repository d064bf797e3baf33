"""The training doctor: checks of data, curves, outputs and gradients, and their callback."""

from trainkit.doctor.callback import TrainingDoctor
from trainkit.doctor.findings import SEVERITY, Finding, print_findings

__all__ = ["SEVERITY", "Finding", "TrainingDoctor", "print_findings"]
