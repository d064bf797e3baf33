"""What a run writes for TensorBoard, read back with TensorBoard's own event reader: epoch
scalars at the epoch number, per-class scores, figures when the monitored metric improves, the
Custom Scalars layout and the HPARAMS row."""

from __future__ import annotations

import math
import re

import pytest
from conftest import TINY, read_summary
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import plugin_data_pb2

from trainkit.report.tensorboard import FIXED_HPARAMS, RESULT_RUN

TASK_METRICS = {
    "tiny_regression": ("loss", "mse", "mae", "r2"),
    "tiny_binary": ("loss", "acc", "f1", "precision", "recall"),
    "tiny_multiclass": ("loss", "acc", "f1", "precision", "recall"),
    "tiny_cnn": ("loss", "acc", "f1", "precision", "recall"),
}
CLASSIFIERS = ["tiny_binary", "tiny_multiclass", "tiny_cnn"]


def load_events(folder) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    events.Reload()
    return events


def plugin_content(events: EventAccumulator, plugin: str) -> dict:
    """{tag: content} of a plugin's data; {} where the run has none."""
    try:
        return events.PluginTagToContent(plugin)
    except KeyError:
        return {}


def hparams_plugin_data(events: EventAccumulator) -> dict:
    content = plugin_content(events, hparams_metadata.PLUGIN_NAME)
    return {tag: plugin_data_pb2.HParamsPluginData.FromString(raw) for tag, raw in content.items()}


@pytest.mark.parametrize("name", TINY)
def test_epoch_scalars_are_logged_at_the_epoch_number(trained_runs, name):
    run_dir, _ = trained_runs[name]
    summary = read_summary(run_dir)
    events = load_events(run_dir / "tensorboard")
    tags = set(events.Tags()["scalars"])
    for stage in ("train", "val", "test"):
        for metric in TASK_METRICS[name]:
            assert f"{stage}/{metric}" in tags
    epochs = list(range(summary["epochs_completed"]))
    # one point per epoch, at its number (the sanity-check pass left none)
    for tag in ("train/loss", "val/loss", "lr-Adam"):
        assert [e.step for e in events.Scalars(tag)] == epochs, tag
    # the gradient norm: the median of each epoch that measured one (every_n_steps)
    norms = [e.step for e in events.Scalars("train/grad_norm")]
    assert norms and norms == sorted(set(norms)) and set(norms) <= set(epochs)
    # the test of the best checkpoint: after the last epoch
    test_key = "test/acc" if "test/acc" in summary["metrics"] else "test/r2"
    (point,) = events.Scalars(test_key)
    assert point.step == summary["epochs_completed"]
    assert point.value == pytest.approx(summary["metrics"][test_key])
    # no Lightning `epoch` card, no copies of the metrics under hparams/
    assert "epoch" not in tags and not [t for t in tags if t.startswith("hparams/")]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_per_class_scores_are_named_by_class(trained_runs, name):
    run_dir, cfg = trained_runs[name]
    summary = read_summary(run_dir)
    tags = set(load_events(run_dir / "tensorboard").Tags()["scalars"])
    classes = summary["data"].get("class_names") or [
        str(i) for i in range(len(summary["confusion_matrix"]["test"]))
    ]
    for stage in ("train", "val", "test"):
        for metric in ("precision", "recall", "f1"):
            for label in classes:
                tag = f"{stage}_by_class/{metric}/{' '.join(str(label).replace('/', '-').split())}"
                assert tag in tags, tag


def test_per_class_recall_is_the_confusion_matrix_diagonal(trained_runs):
    """test_by_class/recall/<class> = diagonal / row sum of the test confusion matrix."""
    run_dir, _ = trained_runs["tiny_multiclass"]
    summary = read_summary(run_dir)
    matrix = summary["confusion_matrix"]["test"]
    events = load_events(run_dir / "tensorboard")
    found = {
        t.rsplit("/", 1)[1]: events.Scalars(t)[-1].value
        for t in events.Tags()["scalars"]
        if t.startswith("test_by_class/recall/")
    }
    assert len(found) == len(matrix)
    names = summary["data"].get("class_names") or [str(i) for i in range(len(matrix))]
    for i, row in enumerate(matrix):
        expected = row[i] / sum(row) if sum(row) else 0.0
        assert found[str(names[i])] == pytest.approx(expected, abs=1e-6)


def improving_epochs(values: list[float]) -> list[int]:
    best, steps = None, []
    for epoch, value in enumerate(values):
        if math.isfinite(value) and (best is None or value < best):
            best = value
            steps.append(epoch)
    return steps


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_confusion_matrices_are_logged_when_validation_improves(trained_runs, name):
    run_dir, _ = trained_runs[name]
    summary = read_summary(run_dir)
    events = load_events(run_dir / "tensorboard")
    images = set(events.Tags()["images"])
    views = ("confusion_matrix", "confusion_matrix_normalized")
    assert {f"{stage}/{view}" for stage in ("val", "test") for view in views} <= images
    val_loss = [e.value for e in events.Scalars("val/loss")]
    for view in views:
        steps = [i.step for i in events.Images(f"val/{view}")]
        # monitor=val/loss: only the epochs that lowered it, so the last is the best epoch
        assert steps == improving_epochs(val_loss)
        assert steps[-1] == summary["best_epoch"]
        (test,) = events.Images(f"test/{view}")
        assert test.step == summary["epochs_completed"]
        assert test.encoded_image_string.startswith(b"\x89PNG")


def test_binary_runs_have_pr_curves(trained_runs):
    run_dir, _ = trained_runs["tiny_binary"]
    events = load_events(run_dir / "tensorboard")
    curves = set(plugin_content(events, "pr_curves"))
    assert {"val/pr_curve", "test/pr_curve"} <= curves
    # not for more than two classes
    other = load_events(trained_runs["tiny_multiclass"][0] / "tensorboard")
    assert not plugin_content(other, "pr_curves")


@pytest.mark.parametrize("name", TINY)
def test_custom_scalars_put_train_and_val_on_one_chart(trained_runs, name):
    run_dir, _ = trained_runs[name]
    events = load_events(run_dir / "tensorboard")
    (raw,) = [
        events.Tensors(tag)[0].tensor_proto.string_val[0]
        for tag in events.Tags()["tensors"]
        if tag == "custom_scalars__config__"
    ]
    layout = layout_pb2.Layout.FromString(raw)
    charts = {c.title: c for category in layout.category for c in category.chart}
    tags = set(events.Tags()["scalars"])
    for metric in TASK_METRICS[name]:
        patterns = list(charts[metric].multiline.tag)
        shown = {t for t in tags if any(re.search(p, t) for p in patterns)}
        assert {f"train/{metric}", f"val/{metric}", f"test/{metric}"} <= shown, (metric, shown)
        assert not {t for t in shown if not t.endswith(f"/{metric}")}, shown


@pytest.mark.parametrize("name", TINY)
def test_hparams_row_holds_the_run_settings_and_final_metrics(trained_runs, name):
    run_dir, cfg = trained_runs[name]
    summary = read_summary(run_dir)
    main = load_events(run_dir / "tensorboard")
    assert not hparams_plugin_data(main), "the curves' run holds no HPARAMS data"
    result = load_events(run_dir / "tensorboard" / RESULT_RUN)
    data = hparams_plugin_data(result)
    # a session, and no "experiment": that would fix the table's columns for the whole logdir
    assert set(data) == {
        hparams_metadata.SESSION_START_INFO_TAG,
        hparams_metadata.SESSION_END_INFO_TAG,
    }
    start = data[hparams_metadata.SESSION_START_INFO_TAG].session_start_info
    hparams = dict(start.hparams)
    assert set(FIXED_HPARAMS) <= set(hparams), set(FIXED_HPARAMS) - set(hparams)
    assert len(hparams) <= 15, sorted(hparams)
    assert hparams["seed"].number_value == summary["seed"]
    assert hparams["model.optimizer.lr"].number_value == cfg.model.optimizer.lr
    assert hparams["experiment"].string_value == name
    assert hparams["model.optimizer"].string_value == "Adam"
    assert hparams["data.batch_size"].number_value == cfg.data.batch_size  # an override here
    # the metric columns: exactly summary.json's metrics, val at the best epoch, test after
    tags = set(result.Tags()["scalars"])
    assert tags == set(summary["metrics"])
    for key, value in summary["metrics"].items():
        (point,) = result.Scalars(key)
        stage = "best_epoch" if key.startswith("val/") else "epochs_completed"
        assert point.step == summary[stage], key
        assert math.isclose(point.value, value, rel_tol=1e-6, abs_tol=1e-7), key


def test_a_resumed_run_replaces_its_test_and_hparams_row(tmp_path):
    """Trained on from a finished run's last.ckpt: one test point (the new one), and the HPARAMS
    row says what the run is now."""
    from conftest import compose_train

    from trainkit.run.train import train

    run_dir = tmp_path / "run"
    base = ["+experiment=tiny_multiclass"]
    train(compose_train(run_dir, [*base, "trainer.max_epochs=2"]))
    longer = [*base, "trainer.max_epochs=3", f"ckpt_path={run_dir}/checkpoints/last.ckpt"]
    summary = train(compose_train(run_dir, longer))
    assert summary["epochs_completed"] == 3
    events = load_events(run_dir / "tensorboard")
    assert [e.step for e in events.Scalars("test/loss")] == [3]
    assert [e.step for e in events.Scalars("val/loss")] == [0, 1, 2]
    assert [i.step for i in events.Images("test/confusion_matrix")] == [3]
    result = load_events(run_dir / "tensorboard" / RESULT_RUN)
    start = hparams_plugin_data(result)[hparams_metadata.SESSION_START_INFO_TAG]
    assert start.session_start_info.hparams["trainer.max_epochs"].number_value == 3
    assert [p.value for p in result.Scalars("test/loss")] == [
        pytest.approx(summary["metrics"]["test/loss"])
    ]
