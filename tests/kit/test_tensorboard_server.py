"""The real `tensorboard` program serves a trained run over HTTP: the run, its scalars (the same
numbers as summary.json and the event files) and its confusion-matrix images.

The server is started by conftest.running_tensorboard, which the README's check uses too.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import read_summary, scalar_curves
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard_server import Server, running_tensorboard

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def server(trained_runs, tmp_path_factory) -> Iterator[Server]:
    """TensorBoard serving the tiny_cnn run's directory.

    Its loader is left at the default, as `tensorboard --logdir logs` runs it: the Rust data
    server where tensorboard-data-server is installed, else the Python one.
    """
    run_dir, _ = trained_runs["tiny_cnn"]
    # the default keeps 10 images per tag; the test compares every image logged
    flags = ["--samples_per_plugin=images=1000"]
    with running_tensorboard(run_dir, tmp_path_factory.mktemp("tensorboard_server"), *flags) as tb:
        yield tb


def event_runs(logdir: Path) -> set[str]:
    """The runs TensorBoard should list: each directory holding event files, relative to logdir."""
    return {
        path.parent.relative_to(logdir).as_posix() for path in logdir.rglob("events.out.tfevents.*")
    }


def served_run(server: Server) -> str:
    """The run of the curves; the run's HPARAMS row is its own small run beside it."""
    expected = event_runs(server.logdir)
    assert expected == {"tensorboard", "tensorboard/best"}, expected
    runs = server.poll_json("/data/runs", lambda runs: set(runs) >= expected)
    assert set(runs) == expected, "run list served by TensorBoard"
    return "tensorboard"


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk that follows the PNG signature."""
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_run_is_listed(server):
    run = served_run(server)
    assert run == "tensorboard"  # trainkit writes its curves to <run dir>/tensorboard/


def test_scalars_match_event_files_and_summary(server):
    run = served_run(server)
    curves = scalar_curves(server.logdir)
    summary = read_summary(server.logdir)
    logged = set(curves)
    tags = server.poll_json("/data/plugin/scalars/tags", lambda t: set(t.get(run, {})) >= logged)
    assert set(tags[run]) == logged
    for stage in ("train", "val", "test"):
        assert {f"{stage}/loss", f"{stage}/acc", f"{stage}/f1"} <= set(tags[run])
    assert "lr-Adam" in tags[run]

    def served(tag: str) -> list[tuple[int, float]]:
        points = server.poll_json(
            "/data/plugin/scalars/scalars",
            lambda points: len(points) >= len(curves[tag]),
            run=run,
            tag=tag,
        )
        return [(step, value) for _wall_time, step, value in points]

    val_loss = served("val/loss")
    assert len(val_loss) == summary["epochs_completed"]
    assert [step for step, _ in val_loss] == [step for step, _ in curves["val/loss"]]
    assert [value for _, value in val_loss] == pytest.approx(
        [value for _, value in curves["val/loss"]], rel=1e-6
    )
    # summary.json reports the best (lowest) epoch's val/loss, as ModelCheckpoint chose it
    assert min(value for _, value in val_loss) == pytest.approx(
        summary["metrics"]["val/loss"], rel=1e-6
    )
    assert served("test/acc")[-1][1] == pytest.approx(summary["metrics"]["test/acc"], rel=1e-6)


def test_confusion_matrix_images_are_served_as_png(server):
    run = served_run(server)
    wanted = {"val/confusion_matrix", "test/confusion_matrix"}
    tags = server.poll_json("/data/plugin/images/tags", lambda t: set(t.get(run, {})) >= wanted)
    assert wanted <= set(tags[run])

    events = EventAccumulator(str(server.logdir / run), size_guidance={"images": 0})
    events.Reload()
    logged = events.Images("val/confusion_matrix")
    images = server.poll_json(
        "/data/plugin/images/images",
        lambda images: len(images) >= len(logged),
        run=run,
        tag="val/confusion_matrix",
    )
    assert len(images) == len(logged) >= 1
    assert [image["step"] for image in images] == [image.step for image in logged]
    # logged when val/loss improved: the latest image is the best epoch's
    assert images[-1]["step"] == read_summary(server.logdir)["best_epoch"]

    # the image's URL is opaque to clients: the listing hands out its query string
    png, content_type = server.get("/data/plugin/images/individualImage?" + images[-1]["query"])
    assert content_type == "image/png"
    assert png.startswith(PNG_SIGNATURE)
    assert png == logged[-1].encoded_image_string
    assert png_size(png) == (logged[-1].width, logged[-1].height)
