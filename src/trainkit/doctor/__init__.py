"""The training doctor: checks of data, curves, outputs and gradients, and their callback."""

from trainkit.doctor.callback import TrainingDoctor, print_findings
from trainkit.doctor.findings import SEVERITY, Finding

__all__ = ["SEVERITY", "Finding", "TrainingDoctor", "print_findings"]
