"""The training doctor: every code appears on a run built with that pathology, with its fix."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import compose_train
from pathologies import DIVERGING_SGD, LONG, OVERFITTING

from trainkit.doctor import SEVERITY
from trainkit.doctor.data_checks import check_imbalance
from trainkit.doctor.output_checks import check_baseline
from trainkit.errors import TrainkitError
from trainkit.run.train import train

# code -> (overrides, text the message or one of the fixes to try must contain)
PATHOLOGIES = {
    # built differently from the cases below: Adam with a huge rate, sigmoid depth, plain SGD
    "loss_diverging (adam)": (
        ["+experiment=tiny_binary", "model.optimizer.lr=10", "trainer.max_epochs=8", *LONG],
        "model.optimizer.lr=0.001",
    ),
    "vanishing_gradients (sigmoid depth)": (
        [
            "+experiment=tiny_binary",
            "model.net._target_=pathologies.DeepSigmoidNet",
            "~model.net.hidden",
            "~model.net.dropout",
            "model/optimizer=sgd",
            "model.optimizer.lr=0.01",
            "trainer.max_epochs=4",
        ],
        "fades on its way back",
    ),
    "loss_not_decreasing (sgd)": (
        [
            "+experiment=tiny_multiclass",
            "model/optimizer=sgd",
            "model.optimizer.lr=1e-5",
            "trainer.max_epochs=10",
            *LONG,
        ],
        "model.optimizer.lr=0.01",
    ),
    "loss_not_decreasing": (
        ["+experiment=tiny_binary", "model.optimizer.lr=1e-7", "trainer.max_epochs=6", *LONG],
        "model.optimizer.lr=0.001",
    ),
    "loss_diverging": ([*DIVERGING_SGD, "trainer.max_epochs=8", *LONG], "model.optimizer.lr=0.01"),
    "exploding_gradients": ([*DIVERGING_SGD, "trainer.max_epochs=8", *LONG], "gradient_clip_val"),
    "non_finite_loss": ([*DIVERGING_SGD, "trainer.max_epochs=40", *LONG], "last good checkpoints"),
    "prediction_collapse": (
        [
            "+experiment=tiny_multiclass",
            "model.net._target_=pathologies.DeadReluMLP",
            "trainer.max_epochs=5",
        ],
        "validation samples",
    ),
    "no_better_than_baseline": (
        [
            "+experiment=tiny_multiclass",
            "model.optimizer.weight_decay=100",
            "trainer.max_epochs=8",
            *LONG,
        ],
        "model.optimizer.weight_decay=0.01",
    ),
    "overfitting": (
        OVERFITTING,
        # run in-process, without the command line: scripts/ runs get the early-stopping fix
        "model.optimizer.weight_decay=0.01",
    ),
    "probabilities_into_logits_loss": (
        [
            "+experiment=tiny_multiclass",
            "model.net._target_=pathologies.ProbabilityMLP",
            "trainer.max_epochs=3",
        ],
        "remove the final sigmoid/softmax",
    ),
    "class_imbalance": (
        ["+experiment=tiny_binary", "data.class_fraction={1: 0.1}", "trainer.max_epochs=3"],
        "model.pos_weight=balanced",
    ),
    "unscaled_inputs": (
        ["+experiment=tiny_binary", "data.standardize=false", "trainer.max_epochs=3"],
        "data.standardize=true",
    ),
    "vanishing_gradients": (
        [
            "+experiment=tiny_binary",
            "model.net._target_=pathologies.DeadReluMLP",
            "trainer.max_epochs=3",
        ],
        "dead ReLUs",
    ),
    "train_eval_overlap": (
        [
            "+experiment=tiny_binary",
            "data._target_=pathologies.LeakyArrayDataModule",
            "trainer.max_epochs=2",
        ],
        "drop_duplicates",
    ),
}


def run(tmp_path, overrides):
    cfg = compose_train(tmp_path / "run", overrides)
    summary = train(cfg)
    assert (
        json.loads((tmp_path / "run" / "summary.json").read_text())["diagnostics"]
        == summary["diagnostics"]
    )
    return summary


@pytest.mark.parametrize("code", sorted(PATHOLOGIES))
def test_pathology_is_named_with_its_fix(tmp_path, code):
    overrides, fix = PATHOLOGIES[code]
    code = code.split(" ")[0]
    summary = run(tmp_path, overrides)
    found = {d["code"]: d for d in summary["diagnostics"]}
    assert code in found, f"expected {code}, got {sorted(found)}"
    assert found[code]["severity"] == SEVERITY[code]
    assert fix in found[code]["message"] or any(fix in t for t in found[code]["try"])
    # a fix to run, or plain words that no config setting fixes it
    assert found[code]["try"] or "No config setting fixes this" in found[code]["message"]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    summary = run(tmp_path, [*DIVERGING_SGD, "trainer.max_epochs=40", *LONG])
    assert summary["stop_reason"] == "non_finite_loss"
    assert summary["epochs_completed"] < 40
    for name in ("best.ckpt", "last.ckpt"):
        state = torch.load(tmp_path / "run" / "checkpoints" / name, weights_only=True)["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values()), name


def test_labels_out_of_range_stop_before_any_step(tmp_path):
    overrides = ["+experiment=tiny_multiclass", "model.num_classes=2", "model.net.out_features=2"]
    with pytest.raises(TrainkitError, match="Labels outside"):
        run(tmp_path, overrides)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert [d["code"] for d in summary["diagnostics"]] == ["labels_out_of_range"]
    assert summary["epochs_completed"] == 0
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_imbalance_threshold_separates_63_37_from_90_10():
    assert check_imbalance(torch.tensor([0] * 63 + [1] * 37), 2, 4.0) is None
    assert check_imbalance(torch.tensor([0] * 90 + [1] * 10), 2, 4.0) is not None


ARGS = (0.01, 0.1, 0.1)  # alpha, regression margin, paradox recall


def facts(**kw):
    from trainkit.doctor.observe import RunFacts

    return RunFacts(**{"lr": 1e-3, "optimizer": "Adam", "scale": 0.69, **kw})


def test_accuracy_paradox_is_no_better_than_baseline():
    # 3 classes: the two common ones learned, the rare one (5%) never recalled
    confusion = torch.tensor([[50, 2, 0], [3, 40, 0], [4, 1, 0]])
    metrics = {"val/acc": 0.9, "val/loss": 0.3}
    found = check_baseline(metrics, {"val/acc": 0.5}, confusion, facts(), 0.01, 0.1, 0.1)
    assert found is not None and found.code == "no_better_than_baseline"
    assert "accuracy paradox" in found.message and "class 2" in found.message
    assert {"model.class_weights": "balanced"} in found.fixes
    healthy = torch.tensor([[50, 2, 0], [3, 40, 0], [1, 0, 4]])
    assert check_baseline(metrics, {"val/acc": 0.5}, healthy, facts(), 0.01, 0.1, 0.1) is None


def test_binomial_tail_matches_scipy():
    from scipy.stats import binom

    from trainkit.doctor.output_checks import binomial_tail

    for k, n, p in [(17, 36, 0.39), (0, 10, 0.5), (30, 30, 0.9), (520, 1000, 0.5), (3, 50, 0.01)]:
        assert binomial_tail(k, n, p) == pytest.approx(binom.sf(k - 1, n, p), rel=1e-9, abs=1e-300)


def test_small_validation_splits_are_judged_by_chance_not_a_margin():
    # random labels, 36 validation rows: 17 right where the majority (39%) would get 14
    by_chance = torch.tensor([[8, 3, 3], [4, 5, 3], [6, 0, 4]])
    found = check_baseline({}, {"val/acc": 14 / 36}, by_chance, facts(), 0.01, 0.1, 0.1)
    assert found is not None and "36 validation samples" in found.message
    # the same accuracy on 3600 rows is no accident
    learned = by_chance * 100
    assert check_baseline({}, {"val/acc": 14 / 36}, learned, facts(), 0.01, 0.1, 0.1) is None


def test_class_weights_are_judged_by_the_rare_class_they_find():
    # 95/5 with weights: accuracy below the majority share, but the rare class is found
    confusion = torch.tensor([[170, 40], [1, 10]])
    weighted = facts(weighted=True, imbalanced=True, single_logit=True)
    assert check_baseline({}, {"val/acc": 210 / 221}, confusion, weighted, 0.01, 0.1, 0.1) is None
    # without weights the majority-only model is named, and weights are the first fix
    majority = torch.tensor([[210, 0], [11, 0]])
    plain = facts(imbalanced=True, single_logit=True)
    found = check_baseline({}, {"val/acc": 210 / 221}, majority, plain, 0.01, 0.1, 0.1)
    assert found is not None and found.fixes[0] == {"model.pos_weight": "balanced"}


def test_overfitting_needs_a_rise_that_matters_next_to_the_loss_scale():
    from trainkit.doctor.training_checks import check_overfitting

    train = [1.0 / (i + 1) for i in range(20)]
    tiny_rise = [0.0115] * 10 + [0.0159] * 10  # +38 %, but 0.2 % of the trivial loss
    args = (5, 0.25, 0.05, 0.05, True)
    assert check_overfitting(train, tiny_rise, facts(scale=2.3), *args) is None
    real = [0.3] * 10 + [0.6] * 10
    assert check_overfitting(train, real, facts(scale=0.69), *args) is not None
    # early stopping ended it: the wasted epochs are bounded, nothing to act on
    assert check_overfitting(train, real, facts(scale=0.69, stopped_early=True), *args) is None


def test_gradient_words_follow_the_numbers():
    from trainkit.doctor.gradient_checks import check_gradients

    falling = [1.7e14] * 5 + [1.05e14] * 5
    found = check_gradients(falling, 0.0, 1.0, facts(), 1e3, 100.0, 1e-7, 0.5, 1e-4)
    assert "stayed huge" in found.message and "grew" not in found.message
    # scale-aware: 700 is huge next to a loss of 0.66 ...
    assert check_gradients([700.0] * 9, 0.0, 1.0, facts(scale=0.66), 1e2, 100.0, 1e-7, 0.5, 1e-4)
    # ... and the output bias that did get a gradient is not rounded away
    found = check_gradients([1.0] * 9, 0.9999, 1.0, facts(), 1e3, 100.0, 1e-7, 0.5, 1e-4)
    assert ">99%" in found.message and "100%" not in found.message


def test_label_advice_never_repeats_the_setting_in_use():
    from trainkit.doctor.data_checks import check_labels

    found = check_labels({"train": torch.tensor([-1, 0, 1, 2]), "val": torch.tensor([0, 1])}, 3)
    assert "data.num_classes=3" not in found.message and "num_classes=4" in found.message
    assert "1 label out of range" in found.message
    assert found.fixes == []  # relabelling happens in the data module
    found = check_labels({"train": torch.tensor([0, 1, 2, 3])}, 3)
    assert found.fixes == [{"data.num_classes": 4}]


def test_overfit_debug_reaches_near_zero_or_says_why(tmp_path):
    healthy = run(
        tmp_path / "ok", ["+experiment=tiny_binary", "debug=overfit", "trainer.max_epochs=150"]
    )
    assert healthy["diagnostics"] == [], healthy["diagnostics"]
    broken = run(
        tmp_path / "dead",
        [
            "+experiment=tiny_binary",
            "debug=overfit",
            "trainer.max_epochs=20",
            "model.net._target_=pathologies.DeadReluMLP",
        ],
    )
    found = {d["code"]: d["message"] for d in broken["diagnostics"]}
    assert "Simplify until it learns" in found["loss_not_decreasing"]


@pytest.mark.parametrize("mode", ["fast", "limit", "profile"])
def test_debug_configs_run(tmp_path, mode):
    summary = run(tmp_path, ["+experiment=tiny_multiclass", f"debug={mode}"])
    assert summary["status"] == "completed"
    assert summary["diagnostics"] == [], summary["diagnostics"]  # a healthy net, briefly
    if mode == "fast":
        assert summary["epochs_completed"] == 1
    if mode == "limit":
        assert summary["epochs_completed"] == 3
    if mode == "profile":
        assert list((tmp_path / "run").glob("*profile*.txt"))


def test_lr_finder_sets_the_learning_rate_it_reports(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = compose_train(
        tmp_path / "run", ["+experiment=tiny_binary", "tune.lr_find=true", "trainer.max_epochs=3"]
    )
    summary = train(cfg)
    used = summary["lr_find"]["used"]
    assert summary["lr_find"]["suggested"] == used != summary["lr_find"]["configured"]
    assert cfg.model.optimizer.lr == used
    events = EventAccumulator(
        str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0, "scalars": 0}
    )
    events.Reload()
    assert "tune/lr_find" in events.Tags()["images"]
    assert events.Scalars("lr-Adam")[0].value == pytest.approx(used, rel=1e-6)


def test_gradient_norm_is_measured_every_n_steps(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run(
        tmp_path,
        [
            "+experiment=tiny_cnn",
            "trainer.max_epochs=2",
            "callbacks.doctor.every_n_steps=5",
            "trainer.gradient_clip_val=1.0",
        ],
    )
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    # measured every 5 steps, logged as each epoch's median at the epoch number
    steps = [e.step for e in events.Scalars("train/grad_norm")]
    assert steps == [0, 1]
    doctor = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)[
        "callbacks"
    ]["TrainingDoctor"]
    measured = [s for s, _ in doctor["grad_norms"]]
    assert measured and all(s % 5 == 0 for s in measured)
    text = events.Tags()["tensors"]
    assert any(t.startswith("doctor/findings") for t in text)


def test_labels_are_checked_before_the_lr_finder_steps(tmp_path):
    overrides = [
        "+experiment=tiny_multiclass",
        "model.num_classes=2",
        "model.net.out_features=2",
        "tune.lr_find=true",
    ]
    with pytest.raises(TrainkitError, match="Labels outside"):
        run(tmp_path, overrides)


def test_constant_outputs_are_not_called_probabilities():
    from trainkit.doctor.output_checks import check_probability_outputs

    assert check_probability_outputs(torch.zeros(50, 1), single_logit=True) is None
    assert check_probability_outputs(torch.rand(50, 1), single_logit=True) is not None
    assert check_probability_outputs(torch.randn(50, 3) * 3, single_logit=False) is None


def test_a_finding_read_back_from_a_checkpoint_keeps_its_words():
    from trainkit.doctor.data_checks import check_imbalance
    from trainkit.doctor.findings import Finding

    found = check_imbalance(torch.tensor([0] * 90 + [1] * 10), 2, 4.0)
    saved = found.to_dict()
    again = Finding.from_dict(saved)
    assert again.to_dict() == saved
    assert Finding.from_dict(again.to_dict()).to_dict() == saved  # and on every later resume


def test_the_weights_fix_fits_the_net_s_outputs():
    labels = torch.tensor([0] * 90 + [1] * 10)
    one_logit = check_imbalance(labels, 2, 4.0, single_logit=True)
    two_logits = check_imbalance(labels, 2, 4.0, single_logit=False)
    assert one_logit.fixes == [{"model.pos_weight": "balanced"}]
    assert two_logits.fixes == [{"model.class_weights": "balanced"}]
    assert check_imbalance(labels, 2, 4.0, weighted=True) is None  # weights answer the skew


def test_a_split_or_a_class_too_small_to_judge_is_not_judged():
    # one class in the validation split: a perfect model is not "no better than the prior"
    single = torch.tensor([[20, 0], [0, 0]])
    assert check_baseline({}, {"val/acc": 1.0}, single, facts(), *ARGS) is None
    # a rare class of 2 samples, both missed, proves no accuracy paradox
    two = torch.tensor([[14, 0, 0], [0, 13, 0], [1, 1, 0]])
    assert check_baseline({}, {"val/acc": 14 / 29}, two, facts(), *ARGS) is None


def test_one_logit_near_the_prior_is_no_probability():
    from trainkit.doctor.output_checks import check_probability_outputs

    prior = 0.53 + 0.05 * torch.randn(512, 1)
    assert check_probability_outputs(prior, single_logit=True) is None
    assert check_probability_outputs(torch.rand(512, 1), single_logit=True) is not None


def test_findings_print_user_text_as_text(capsys):
    from trainkit.doctor.findings import finding, print_findings

    odd = finding("train_eval_overlap", "Files [bold]data[/bold] and [/a.npy,/b.npy].", "Why.")
    odd.command = "python scripts/train.py 'data.files=[/data/a.npy,/data/b.npy]'"
    print_findings([odd])
    out = " ".join(capsys.readouterr().out.split())
    assert "[bold]data[/bold]" in out and "[/data/a.npy,/data/b.npy]" in out


def test_outputs_are_sampled_in_the_net_s_own_precision():
    from trainkit.doctor.observe import sample_outputs

    net = torch.nn.Linear(4, 1).to(torch.bfloat16)
    out = sample_outputs(net, torch.randn(8, 4))
    assert out is not None and out.dtype == torch.float32 and out.shape == (8, 1)


def test_gradient_accumulation_is_no_divergence(tmp_path):
    summary = run(
        tmp_path,
        ["+experiment=tiny_binary", "+trainer.accumulate_grad_batches=4", "trainer.max_epochs=6"],
    )
    assert not [d for d in summary["diagnostics"] if d["severity"] != "info"]


def test_a_wholly_frozen_net_is_named_before_any_step(tmp_path):
    overrides = ["+experiment=tiny_binary", "model.net._target_=pathologies.FrozenMLP"]
    with pytest.raises(TrainkitError, match="requires_grad"):
        run(tmp_path, overrides)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert [d["code"] for d in summary["diagnostics"]] == ["vanishing_gradients"]
    assert summary["diagnostics"][0]["try"] == []


def test_labels_refused_while_loading_are_labels_out_of_range(tmp_path):
    table = tmp_path / "neg.csv"
    rows = [f"{i % 7},{(i * 3) % 5},{i % 3 - 1}" for i in range(60)]
    table.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    overrides = [
        "+experiment=tiny_multiclass",
        "data=csv",
        f"data.path={table}",
        "data.num_features=2",
        "data.num_classes=3",
    ]
    with pytest.raises(TrainkitError, match="relabel"):
        run(tmp_path, overrides)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    found = {d["code"]: d for d in summary["diagnostics"]}
    assert found["labels_out_of_range"]["severity"] == "error"
    assert "num_classes=3" not in found["labels_out_of_range"]["message"]


def test_weight_movement_is_measured_from_a_copy():
    from trainkit.doctor.observe import weight_movement, weight_snapshot

    net = torch.nn.Linear(4, 3)
    start = weight_snapshot(net)
    assert weight_movement(net, start) == 0.0
    with torch.no_grad():
        net.weight.mul_(2.0)
        net.bias.mul_(2.0)
    assert weight_movement(net, start) == pytest.approx(1.0)  # every weight moved its own size
