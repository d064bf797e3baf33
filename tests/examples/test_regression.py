"""The regression example: diabetes (and the synthetic line) through a linear net."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import CONF, check_search
from floors import floor_id, run_reaches_floor

from my_project.data.linear import make_linear

FLOORS = [
    (("+experiment=regression",), "test/r2", 0.40),
    (("+experiment=regression", "data=linear"), "test/r2", 0.99),
]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "metric", "floor"), FLOORS, ids=floor_id)
def test_default_run_reaches_floor(converged_runs, args, metric, floor):
    summary = run_reaches_floor(converged_runs, args, metric, floor)
    if "data=linear" in args:  # the linear net's weight and bias read as slope and intercept
        path = converged_runs(*args) / summary["best_checkpoint"]
        state = torch.load(path, weights_only=True)["state_dict"]
        slope, bias = float(state["net.weight"]), float(state["net.bias"])
        assert abs(slope - 2.0) <= 0.05 and abs(bias - 1.0) <= 0.05, (slope, bias)


def test_linear_data_is_the_line_it_names():
    data = make_linear(n_samples=2000, slope=-3.0, intercept=0.5, noise=0.1, seed=1)
    assert data.x.shape == (2000, 1) and data.y.shape == (2000, 1) and not data.classification
    slope, intercept = np.polyfit(data.x.ravel(), data.y.ravel(), 1)
    assert slope == pytest.approx(-3.0, abs=0.02) and intercept == pytest.approx(0.5, abs=0.01)
    residual = data.y.ravel() - (slope * data.x.ravel() + intercept)
    assert residual.std() == pytest.approx(0.1, rel=0.1)
    again = make_linear(n_samples=2000, slope=-3.0, intercept=0.5, noise=0.1, seed=1)
    assert np.array_equal(data.y, again.y)  # seeded


def test_regression_search_varies_keys_of_the_experiment(tmp_path):
    """hparams_search=regression_optuna, written for this example, varies only its keys."""
    check_search(CONF / "hparams_search" / "regression_optuna.yaml", "regression", tmp_path)
