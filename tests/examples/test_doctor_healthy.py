"""No false alarms: healthy runs of every example, with other seeds, optimisers at their own
default rates, faster rates, odd batch sizes and skewed labels with working class weights, make
the training doctor report no warning and no error."""

from __future__ import annotations

import pytest
from conftest import compose_train

from trainkit.run.train import train

EXAMPLES = ("binary", "multiclass", "regression", "cnn")
# the examples' own learning rates (conf/model/*.yaml)
LR = {"binary": 0.003, "multiclass": 0.001, "regression": 0.001, "cnn": 0.002}

HEALTHY: dict[str, list[str]] = {}
for name in EXAMPLES:
    for seed in range(1, 6):
        HEALTHY[f"{name} seed={seed}"] = [f"seed={seed}"]
    # each optimiser at its own default rate (conf/model/optimizer/)
    HEALTHY[f"{name} sgd"] = ["model/optimizer=sgd", "model.optimizer.lr=0.01"]
    HEALTHY[f"{name} adamw"] = ["model/optimizer=adamw", "model.optimizer.lr=0.001"]
    if name != "cnn":  # the cheap ones: faster rates and odd batch sizes
        for factor in (2, 3):
            HEALTHY[f"{name} lr x{factor}"] = [f"model.optimizer.lr={LR[name] * factor:g}"]
        for size in (7, 100):
            HEALTHY[f"{name} batch {size}"] = [f"data.batch_size={size}"]
HEALTHY["binary 90/10 with pos_weight"] = [
    "data.class_fraction={1: 0.1}",
    "model.pos_weight=balanced",
]
HEALTHY["multiclass skewed with class_weights"] = [
    "data.class_fraction={0: 1.0, 1: 0.15, 2: 1.0}",
    "model.class_weights=balanced",
]


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(HEALTHY))
def test_healthy_runs_raise_no_alarm(tmp_path, case):
    experiment = case.split(" ")[0]
    overrides = [f"+experiment={experiment}", *HEALTHY[case]]
    summary = train(compose_train(tmp_path / "run", overrides))
    assert summary["status"] == "completed"
    alarms = [d for d in summary["diagnostics"] if d["severity"] != "info"]
    assert not alarms, [(d["code"], d["message"]) for d in alarms]
