"""The multiclass example: wine cultivars through my_project's MLP, one logit per class."""

from __future__ import annotations

import pytest
from conftest import compose_train
from floors import floor_id, run_reaches_floor
from hydra.utils import instantiate

from my_project.data.wine import load_wine

FLOORS = [(("+experiment=multiclass",), "test/acc", 0.94)]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "metric", "floor"), FLOORS, ids=floor_id)
def test_default_run_reaches_floor(converged_runs, args, metric, floor):
    run_reaches_floor(converged_runs, args, metric, floor)


def test_wine_is_three_cultivars():
    data = load_wine()
    assert data.x.shape == (178, 13) and data.classification
    assert len(data.class_names) == 3 and sorted(set(data.y.tolist())) == [0, 1, 2]
    assert len(data.feature_names) == 13


def test_multiclass_experiment_has_one_logit_per_class(tmp_path):
    cfg = compose_train(tmp_path / "run", ["+experiment=multiclass"])
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    x, _ = datamodule.splits["train"]
    assert cfg.data.num_classes == cfg.model.num_classes == 3
    assert instantiate(cfg.model.net)(x[:5]).shape == (5, 3)
