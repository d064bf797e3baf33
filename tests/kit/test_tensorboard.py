"""TensorBoard's own event reader finds the scalars, confusion-matrix images and hparams."""

from __future__ import annotations

import math

import pytest
from conftest import TINY, read_summary
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

TASK_METRICS = {
    "tiny_regression": ("loss", "mse", "mae", "r2"),
    "tiny_binary": ("loss", "acc", "f1", "precision", "recall"),
    "tiny_multiclass": ("loss", "acc", "f1", "precision", "recall"),
    "tiny_cnn": ("loss", "acc", "f1", "precision", "recall"),
}


def load_events(run_dir) -> EventAccumulator:
    events = EventAccumulator(
        str(run_dir / "tensorboard"), size_guidance={"images": 0, "scalars": 0}
    )
    events.Reload()
    return events


def hparams_plugin_data(events: EventAccumulator) -> dict:
    content = events.PluginTagToContent("hparams")
    return {tag: plugin_data_pb2.HParamsPluginData.FromString(raw) for tag, raw in content.items()}


@pytest.mark.parametrize("name", TINY)
def test_every_scalar_is_logged_once_per_epoch(trained_runs, name):
    run_dir, _ = trained_runs[name]
    summary = read_summary(run_dir)
    events = load_events(run_dir)
    tags = set(events.Tags()["scalars"])
    for stage in ("train", "val", "test"):
        for metric in TASK_METRICS[name]:
            assert f"{stage}/{metric}" in tags
    assert "lr-Adam" in tags
    epochs = summary["epochs_completed"]
    # one point per epoch: the sanity-check pass left none
    assert len(events.Scalars("val/loss")) == epochs
    assert len(events.Scalars("train/loss")) == epochs
    test_acc_key = "test/acc" if "test/acc" in summary["metrics"] else "test/r2"
    assert events.Scalars(test_acc_key)[-1].value == pytest.approx(summary["metrics"][test_acc_key])


@pytest.mark.parametrize("name", ["tiny_binary", "tiny_multiclass", "tiny_cnn"])
def test_confusion_matrix_images(trained_runs, name):
    run_dir, _ = trained_runs[name]
    events = load_events(run_dir)
    assert {"val/confusion_matrix", "test/confusion_matrix"} <= set(events.Tags()["images"])
    val_images = events.Images("val/confusion_matrix")
    assert len(val_images) == read_summary(run_dir)["epochs_completed"]
    png = events.Images("test/confusion_matrix")[-1].encoded_image_string
    assert png.startswith(b"\x89PNG")


@pytest.mark.parametrize("name", TINY)
def test_hparams_hold_config_and_real_metrics(trained_runs, name):
    run_dir, _ = trained_runs[name]
    summary = read_summary(run_dir)
    events = load_events(run_dir)
    data = hparams_plugin_data(events)
    start = next(d.session_start_info for d in data.values() if d.HasField("session_start_info"))
    assert start.hparams["model.optimizer.lr"].number_value > 0
    assert start.hparams["seed"].number_value == summary["seed"]
    assert start.hparams["model.net._target_"].string_value
    experiment = next(d.experiment for d in data.values() if d.HasField("experiment"))
    metric_tags = {m.name.tag for m in experiment.metric_infos}
    assert "hp_metric" not in metric_tags
    assert metric_tags == {f"hparams/{k}" for k in summary["metrics"]}
    for key, value in summary["metrics"].items():
        logged = events.Scalars(f"hparams/{key}")[-1].value
        assert math.isclose(logged, value, rel_tol=1e-6, abs_tol=1e-7), key
