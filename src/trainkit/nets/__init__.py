"""Plain torch.nn.Modules; nothing here knows about Lightning or Hydra."""

from trainkit.nets.cnn import SimpleCNN
from trainkit.nets.mlp import MLP

__all__ = ["MLP", "SimpleCNN"]
