"""No false alarms: healthy runs of every example, with other seeds, optimisers at their own
default rates, faster rates, odd batch sizes and skewed labels with working class weights, make
the training doctor report no warning and no error."""

from __future__ import annotations

import pytest
from conftest import CONF, compose_train

from trainkit.run.train import train

EXPERIMENTS = CONF / "experiment"

# the examples this project still has (scripts/new_project.py may have removed some)
EXAMPLES = [
    e for e in ("binary", "multiclass", "regression", "cnn") if (EXPERIMENTS / f"{e}.yaml").exists()
]
WEIGHTED = {
    "binary 90/10 with pos_weight": ["data.class_fraction={1: 0.1}", "model.pos_weight=balanced"],
    "multiclass skewed with class_weights": [
        "data.class_fraction={0: 1.0, 1: 0.15, 2: 1.0}",
        "model.class_weights=balanced",
    ],
}


def healthy_cases() -> dict[str, list[str]]:
    """{case: overrides} of healthy runs of each example (the first word names it)."""
    cases: dict[str, list[str]] = {}
    for name in EXAMPLES:
        for seed in range(1, 6):
            cases[f"{name} seed={seed}"] = [f"seed={seed}"]
        # each optimiser at its own default rate (conf/model/optimizer/)
        cases[f"{name} sgd"] = ["model/optimizer=sgd", "model.optimizer.lr=0.01"]
        cases[f"{name} adamw"] = ["model/optimizer=adamw", "model.optimizer.lr=0.001"]
        if name != "cnn":  # the cheap ones: faster rates and odd batch sizes
            for factor in (2, 3):
                cases[f"{name} lr x{factor}"] = [f"lr_factor={factor}"]
            for size in (7, 100):
                cases[f"{name} batch {size}"] = [f"data.batch_size={size}"]
    return {**cases, **{k: v for k, v in WEIGHTED.items() if k.split(" ")[0] in EXAMPLES}}


HEALTHY = healthy_cases()


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(HEALTHY))
def test_healthy_runs_raise_no_alarm(tmp_path, case):
    experiment = case.split(" ")[0]
    overrides = [f"+experiment={experiment}", *HEALTHY[case]]
    factor = [o for o in overrides if o.startswith("lr_factor=")]
    if factor:  # the example's own rate (its model config's), made faster
        own = compose_train(tmp_path / "run", overrides[:1]).model.optimizer.lr
        rate = own * float(factor[0].split("=")[1])
        overrides = [overrides[0], f"model.optimizer.lr={rate:g}"]
    summary = train(compose_train(tmp_path / "run", overrides))
    assert summary["status"] == "completed"
    alarms = [d for d in summary["diagnostics"] if d["severity"] != "info"]
    assert not alarms, [(d["code"], d["message"]) for d in alarms]
