"""Lightning callbacks of the template."""

from trainkit.callbacks.confusion import ConfusionMatrixLogger
from trainkit.callbacks.history import MetricHistory

__all__ = ["ConfusionMatrixLogger", "MetricHistory"]
