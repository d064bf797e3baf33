"""Lightning callbacks of the template."""

from trainkit.callbacks.best import BestCheckpoint
from trainkit.callbacks.confusion import ConfusionMatrixLogger
from trainkit.callbacks.early_stopping import EarlyStopping
from trainkit.callbacks.history import MetricHistory
from trainkit.callbacks.last import LastCheckpoint
from trainkit.callbacks.stamp import ConfigStamp

__all__ = [
    "BestCheckpoint",
    "ConfigStamp",
    "ConfusionMatrixLogger",
    "EarlyStopping",
    "LastCheckpoint",
    "MetricHistory",
]
