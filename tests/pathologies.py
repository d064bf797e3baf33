"""Broken parts for the doctor's tests: each builds one classic mistake on purpose."""

from __future__ import annotations

import numpy as np
import torch
from tiny import mlp
from torch import Tensor, nn

from trainkit.data import ArrayData, ArrayDataModule

# Overrides that let a run go on: no early stopping, no learning-rate drops.
LONG = ["callbacks.early_stopping=null", "model.scheduler=null"]
# A linear net on diabetes: plain SGD at this rate grows the loss epoch by epoch (an MLP's loss
# jumps straight to inf instead, which hides loss_diverging and exploding_gradients).
DIVERGING_SGD = [
    "+experiment=tiny_regression",
    "model.net._target_=torch.nn.Linear",
    "model/optimizer=sgd",
    "model.optimizer.momentum=0",
    "model.optimizer.lr=0.3",
]
# A wide MLP without regularisation on breast cancer (wine is so clean that its validation loss
# keeps falling): the validation loss turns up after a few epochs, the training loss goes on.
OVERFITTING = [
    "+experiment=tiny_binary",
    "model.net.hidden=256",
    "model.net.dropout=0",
    "model.optimizer.weight_decay=0",
    "model.optimizer.lr=0.01",
    "data.batch_size=8",
    "trainer.max_epochs=30",
    *LONG,
]


class ProbabilityMLP(nn.Module):
    """An MLP that ends in a sigmoid (one output) or softmax: probabilities into a logits loss."""

    def __init__(
        self, in_features: int, out_features: int, hidden: int = 32, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.net = mlp(in_features, out_features, hidden, dropout)

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(x)
        return torch.sigmoid(out) if out.shape[-1] == 1 else torch.softmax(out, dim=-1)


class DeadReluMLP(nn.Module):
    """Hidden biases far below zero: every ReLU is dead and no gradient reaches hidden layers."""

    def __init__(
        self, in_features: int, out_features: int, hidden: int = 32, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.net = mlp(in_features, out_features, hidden, dropout)
        hidden_layers = [m for m in self.net if isinstance(m, nn.Linear)][:-1]
        with torch.no_grad():
            for layer in hidden_layers:
                layer.bias.fill_(-1000.0)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class LeakyArrayDataModule(ArrayDataModule):
    """Duplicates a share of the rows before splitting, so copies land in train and val/test."""

    def __init__(self, duplicate_fraction: float = 0.3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.duplicate_fraction = duplicate_fraction

    def load(self) -> ArrayData:
        data = super().load()
        rng = np.random.default_rng(0)
        extra = rng.choice(len(data.y), int(self.duplicate_fraction * len(data.y)), replace=False)
        data.x = np.concatenate([data.x, data.x[extra]])
        data.y = np.concatenate([data.y, data.y[extra]])
        return data


class DeepSigmoidNet(nn.Module):
    """Twelve sigmoid layers: the gradient fades to nothing before it reaches the first ones."""

    def __init__(
        self, in_features: int, out_features: int, width: int = 32, depth: int = 12
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(in_features if i == 0 else width, width), nn.Sigmoid()]
        self.layers = nn.Sequential(*layers, nn.Linear(width, out_features))

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class FrozenMLP(nn.Module):
    """An MLP whose every weight is frozen (requires_grad=False): nothing can train."""

    def __init__(
        self, in_features: int, out_features: int, hidden: int = 32, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.net = mlp(in_features, out_features, hidden, dropout)
        self.net.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
