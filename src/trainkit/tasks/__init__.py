"""LightningModules around a plain net; nothing here knows about Hydra."""

from trainkit.tasks.base import Task
from trainkit.tasks.classification import ClassificationTask
from trainkit.tasks.regression import RegressionTask

__all__ = ["ClassificationTask", "RegressionTask", "Task"]
