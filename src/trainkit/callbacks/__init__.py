"""Lightning callbacks of the template."""

from trainkit.callbacks.best import BestCheckpoint
from trainkit.callbacks.dashboard import Dashboard
from trainkit.callbacks.early_stopping import EarlyStopping
from trainkit.callbacks.history import MetricHistory
from trainkit.callbacks.last import LastCheckpoint
from trainkit.callbacks.lr_monitor import LearningRateMonitor
from trainkit.callbacks.stamp import ConfigStamp

__all__ = [
    "BestCheckpoint",
    "ConfigStamp",
    "Dashboard",
    "EarlyStopping",
    "LastCheckpoint",
    "LearningRateMonitor",
    "MetricHistory",
]
