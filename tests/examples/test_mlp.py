"""my_project's MLP, the net of the binary and multiclass examples."""

from __future__ import annotations

import pytest
import torch
from conftest import CONF, check_search

from my_project.nets.mlp import MLP


def test_mlp_shapes_and_dropout():
    net = MLP(in_features=13, out_features=3, hidden_sizes=[16, 8], dropout=0.5)
    assert net(torch.randn(4, 13)).shape == (4, 3)
    assert sum(isinstance(m, torch.nn.Dropout) for m in net.modules()) == 2
    assert MLP(5, 1, hidden_sizes=[])(torch.randn(2, 5)).shape == (2, 1)


def test_mlp_returns_raw_scores():
    """Logits, not probabilities: a loss with logits must get values outside [0, 1]."""
    torch.manual_seed(0)
    out = MLP(in_features=4, out_features=3, hidden_sizes=[8])(10 * torch.randn(64, 4))
    assert out.min() < 0 or out.max() > 1
    assert not torch.allclose(out.sum(1), torch.ones(64))


# the MLP experiments this project has (a project may keep only one of them)
MLP_EXPERIMENTS = [
    e for e in ("binary", "multiclass") if (CONF / "experiment" / f"{e}.yaml").is_file()
]


@pytest.mark.parametrize("experiment", MLP_EXPERIMENTS)
def test_mlp_search_varies_keys_of_the_mlp_experiments(tmp_path, experiment):
    """hparams_search=mlp_optuna, written for binary and multiclass, varies only their keys."""
    check_search(CONF / "hparams_search" / "mlp_optuna.yaml", experiment, tmp_path / "run")
