"""Plain torch.nn.Modules; nothing here knows about Lightning or Hydra."""

from my_project.nets.cnn import SimpleCNN
from my_project.nets.mlp import MLP

__all__ = ["MLP", "SimpleCNN"]
