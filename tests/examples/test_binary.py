"""The binary example: breast cancer, malignant vs benign, through my_project's MLP (one logit)."""

from __future__ import annotations

import pytest
from conftest import compose_train
from floors import floor_id, run_reaches_floor
from hydra.utils import instantiate

from my_project.data.breast_cancer import load_breast_cancer

FLOORS = [(("+experiment=binary",), "test/acc", 0.95)]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "metric", "floor"), FLOORS, ids=floor_id)
def test_default_run_reaches_floor(converged_runs, args, metric, floor):
    run_reaches_floor(converged_runs, args, metric, floor)


def test_positive_class_is_malignant():
    """Precision and recall are reported for class 1: it must be the disease, not benign."""
    data = load_breast_cancer()
    assert data.class_names == ["benign", "malignant"]
    assert data.x.shape == (569, 30) and data.classification
    assert int(data.y.sum()) == 212  # scikit-learn's 212 malignant tumours


def test_binary_experiment_is_one_logit_on_the_table(tmp_path):
    cfg = compose_train(tmp_path / "run", ["+experiment=binary"])
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    x, y = datamodule.splits["train"]
    assert instantiate(cfg.model.net)(x[:5]).shape in ((5,), (5, 1))
    assert cfg.model.num_classes == 2 and set(y.unique().tolist()) == {0, 1}
