"""The template's guarantees, checked on every experiment: conf/experiment/*.yaml (the examples and
your own) and the kit's tiny ones in tests/conf/experiment/.

Add conf/experiment/signals.yaml and these checks run on it with no test code of yours:
- summary.json has the contract keys, and TensorBoard the contract tags;
- the val and test metrics equal scikit-learn (and a hand-written loss) on the best checkpoint's
  predictions;
- the epoch loss is the same whatever the batch size, the partial last batch included;
- scripts/eval.py's evaluation gives the test metrics that training reported;
- (slow) a run with the experiment's own settings ends without a warning from the doctor.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import CONF, REPO, TESTS, compose_train, read_summary, scalar_curves
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf
from sklearn import metrics as skm

from trainkit.tasks import ClassificationTask

YOURS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
KIT = sorted(p.stem for p in (TESTS / "conf" / "experiment").glob("*.yaml"))
CLASSIFICATION = ("loss", "acc", "f1", "precision", "recall")
REGRESSION = ("loss", "mse", "mae", "r2")
CONTRACT_KEYS = {
    "experiment", "status", "stop_reason", "epochs_completed", "best_checkpoint", "metrics",
    "baseline", "diagnostics",
}  # fmt: skip
STOP_REASONS = {"early_stopping", "max_epochs", "non_finite_loss", "interrupted", "error"}


def restored(cfg, run_dir: Path):
    """The data module (set up) and the task with the best checkpoint's weights, in eval mode."""
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("test")
    model = instantiate(cfg.model)
    state = torch.load(run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    model.load_state_dict(state["state_dict"])
    return datamodule, model.eval()


@torch.no_grad()
def outputs(model, loader) -> tuple[torch.Tensor, torch.Tensor]:
    """The net's raw outputs and the targets over a whole loader, in order."""
    outs, ys = [], []
    for x, y in loader:
        outs.append(model(x))
        ys.append(y)
    return torch.cat(outs).float(), torch.cat(ys)


def class_weights(model: ClassificationTask, train_y: np.ndarray) -> np.ndarray | None:
    """The per-class loss weights the config asks for, computed here independently."""
    spec = model.class_weights_spec
    if spec is None:
        return None
    if spec == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        present = compute_class_weight("balanced", classes=np.unique(train_y), y=train_y)
        weights = np.ones(model.num_classes)
        weights[np.unique(train_y)] = present
        return weights
    return np.asarray(spec, dtype=np.float64)


def reference_classification(model, out, y, train_y) -> tuple[dict, np.ndarray]:
    """Loss, acc, precision, recall, f1 (scikit-learn) and predictions, from raw logits."""
    z, target = out.double(), y.long()
    weights = class_weights(model, train_y)
    w = torch.ones(len(y), dtype=torch.float64)
    if weights is not None:
        w = torch.as_tensor(weights)[target]
    if model.binary and (z.ndim == 1 or z.shape[1] == 1):
        z = z.reshape(-1)
        pos = model.pos_weight_spec
        if pos == "balanced":
            pos = float((train_y == 0).sum() / max((train_y == 1).sum(), 1))
        pos = 1.0 if pos is None else float(pos)
        t = target.double()
        per_sample = -(pos * t * F.logsigmoid(z) + (1 - t) * F.logsigmoid(-z))
        pred = (z > 0).long().numpy()
    else:
        per_sample = -z.log_softmax(dim=1)[torch.arange(len(target)), target]
        pred = z.argmax(dim=1).numpy()
    average = "binary" if model.binary else "macro"
    labels = list(range(model.num_classes))
    kw = {"average": average, "zero_division": 0, "labels": labels}
    y_np = target.numpy()
    return {
        "loss": float((w * per_sample).sum() / w.sum()),
        "acc": skm.accuracy_score(y_np, pred),
        "precision": skm.precision_score(y_np, pred, **kw),
        "recall": skm.recall_score(y_np, pred, **kw),
        "f1": skm.f1_score(y_np, pred, **kw),
        **reference_scores(z, y_np, model.num_classes),
    }, pred


def reference_scores(z: torch.Tensor, y: np.ndarray, num_classes: int) -> dict:
    """AUROC and average precision (scikit-learn) of the probabilities: binary of class 1,
    multiclass the mean one-vs-rest score over the classes that occur in `y`."""
    if z.ndim == 1:
        p = torch.sigmoid(z).numpy()
        return {
            "auroc": skm.roc_auc_score(y, p),
            "average_precision": skm.average_precision_score(y, p),
        }
    probs = z.softmax(dim=1).numpy()
    if num_classes == 2:
        p = probs[:, 1]
        return {
            "auroc": skm.roc_auc_score(y, p),
            "average_precision": skm.average_precision_score(y, p),
        }
    present = [c for c in range(num_classes) if (y == c).any()]
    onehot = (y[:, None] == np.arange(num_classes)[None, :]).astype(int)
    return {
        "auroc": np.mean([skm.roc_auc_score(onehot[:, c], probs[:, c]) for c in present]),
        "average_precision": np.mean(
            [skm.average_precision_score(onehot[:, c], probs[:, c]) for c in present]
        ),
    }


def reference_regression(datamodule, out, y) -> dict:
    """The loss on the targets the model trains on; mse, mae, r2 in the target's own units."""
    loss = float(((out.double() - y.double()) ** 2).mean())
    o, t = out.numpy().astype(np.float64), y.numpy().astype(np.float64)
    mean, std = getattr(datamodule, "target_mean", None), getattr(datamodule, "target_std", None)
    if mean is not None and std is not None:
        o, t = (
            o * std.reshape(1, -1) + mean.reshape(1, -1),
            t * std.reshape(1, -1) + mean.reshape(1, -1),
        )
    o, t = o.reshape(len(o), -1), t.reshape(len(t), -1)
    return {
        "loss": loss,
        "mse": skm.mean_squared_error(t, o),
        "mae": skm.mean_absolute_error(t, o),
        "r2": skm.r2_score(t, o),
    }


def assert_close(reported: float, expected: float, what: str) -> None:
    assert math.isclose(reported, expected, rel_tol=1e-5, abs_tol=1e-6), (
        f"{what}: reported {reported}, reference {expected}"
    )


@pytest.mark.parametrize("name", [*YOURS, *KIT])
def test_summary_and_tensorboard_have_the_contract_names(trained_runs, name):
    run_dir, cfg = trained_runs[name]
    summary = read_summary(run_dir)
    assert set(summary) >= CONTRACT_KEYS, CONTRACT_KEYS - set(summary)
    assert summary["experiment"] == name and summary["status"] == "completed"
    assert summary["stop_reason"] in STOP_REASONS
    assert 1 <= summary["epochs_completed"] <= 3
    assert (run_dir / summary["best_checkpoint"]).is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    for finding in summary["diagnostics"]:
        assert {"code", "severity", "message"} <= set(finding), finding
    names = CLASSIFICATION if "test/acc" in summary["metrics"] else REGRESSION
    tags = set(scalar_curves(run_dir))
    for metric in names:
        for stage in ("val", "test"):
            assert f"{stage}/{metric}" in summary["metrics"], f"{stage}/{metric} not in summary"
            assert f"{stage}/{metric}" in tags, f"{stage}/{metric} not in TensorBoard"
        assert f"train/{metric}" in tags
        assert f"test/{metric}" in summary["baseline"]
    assert any(tag.startswith("lr-") for tag in tags), sorted(tags)


@pytest.mark.parametrize("name", [*YOURS, *KIT])
def test_metrics_equal_sklearn_on_the_best_checkpoint(trained_runs, name):
    run_dir, cfg = trained_runs[name]
    summary = read_summary(run_dir)
    datamodule, model = restored(cfg, run_dir)
    train_y = datamodule.targets("train").numpy() if hasattr(datamodule, "targets") else None
    for split, loader in (
        ("val", datamodule.val_dataloader()),
        ("test", datamodule.test_dataloader()),
    ):
        out, y = outputs(model, loader)
        if isinstance(model, ClassificationTask):
            expected, pred = reference_classification(model, out, y, train_y)
        else:
            expected = reference_regression(datamodule, out, y)
        for metric, value in expected.items():
            assert_close(summary["metrics"][f"{split}/{metric}"], value, f"{name} {split}/{metric}")
    if isinstance(model, ClassificationTask):  # the test confusion matrix, rows = true class
        matrix = skm.confusion_matrix(y.numpy(), pred, labels=list(range(model.num_classes)))
        assert summary["confusion_matrix"]["test"] == matrix.tolist()


@pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")
@pytest.mark.parametrize("name", [*YOURS, *KIT])
def test_epoch_loss_does_not_depend_on_the_batch_size(trained_runs, name, tmp_path):
    """Validate the best checkpoint with batch sizes 7, 100 and 1000: the same val/loss."""
    import lightning as L

    run_dir, cfg = trained_runs[name]
    key = "data.eval_batch_size" if "eval_batch_size" in cfg.data else "data.batch_size"
    losses = []
    for batch_size in (7, 100, 1000):
        other = compose_train(
            tmp_path / str(batch_size), [f"+experiment={name}", f"{key}={batch_size}"]
        )
        trainer = L.Trainer(
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            default_root_dir=tmp_path,
        )
        result = trainer.validate(
            instantiate(other.model),
            datamodule=instantiate(other.data),
            ckpt_path=str(run_dir / "checkpoints" / "best.ckpt"),
            verbose=False,
            weights_only=True,
        )
        losses.append(result[0]["val/loss"])
    assert max(losses) - min(losses) <= 1e-6 * max(1.0, abs(losses[0])), losses
    assert_close(losses[0], read_summary(run_dir)["metrics"]["val/loss"], f"{name} val/loss")


@pytest.mark.parametrize("name", [*YOURS, *KIT])
def test_eval_gives_the_test_metrics_of_training(trained_runs, name, tmp_path):
    from trainkit.run.evaluate import evaluate

    run_dir, _ = trained_runs[name]
    trained = read_summary(run_dir)["metrics"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "eval",
            overrides=[
                f"ckpt_path={run_dir / 'checkpoints' / 'best.ckpt'}",
                f"paths.root_dir={REPO}",
                f"paths.output_dir={tmp_path / 'eval'}",
                "trusted_packages=[tiny]",  # the tiny experiments' nets live in tests/tiny.py
            ],
        )
    evaluated = evaluate(cfg)["metrics"]
    test_metrics = {k: v for k, v in trained.items() if k.startswith("test/")}
    assert set(evaluated) == set(test_metrics)
    for key, value in test_metrics.items():
        assert_close(evaluated[key], value, f"{name} eval {key}")


@pytest.mark.slow
@pytest.mark.parametrize("name", YOURS)
def test_a_run_with_its_own_settings_raises_no_warning(converged_runs, name):
    """Your experiment as configured, to the end: the doctor must find nothing to warn about."""
    summary = read_summary(converged_runs(f"+experiment={name}"))
    assert summary["status"] == "completed"
    warnings = [f for f in summary["diagnostics"] if f["severity"] in ("warning", "error")]
    assert not warnings, "\n".join(f"{f['code']}: {f['message']}" for f in warnings)


def test_every_experiment_file_is_checked():
    """The lists above come from the folders, so a new experiment file is never left out."""
    for path in (CONF / "experiment").glob("*.yaml"):
        named = OmegaConf.load(path).get("experiment")
        assert named == path.stem, f"{path} must set `experiment: {path.stem}` (it names the run)"
    assert set(KIT) >= {"tiny_regression", "tiny_binary", "tiny_multiclass", "tiny_cnn"}
