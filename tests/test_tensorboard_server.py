"""The real `tensorboard` program serves a trained run over HTTP: the run, its scalars (the same
numbers as summary.json and the event files) and its confusion-matrix images."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import read_summary, scalar_curves
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

STARTUP_TIMEOUT_S = 20.0
DATA_TIMEOUT_S = 10.0
# TensorBoard prints this line on stderr once it listens, e.g.
# "TensorBoard 2.21.0 at http://127.0.0.1:41235/ (Press CTRL+C to quit)".
SERVING = re.compile(r"TensorBoard \S+ at (http://\S+?)/? \(Press CTRL\+C")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# straight to the local server, whatever http_proxy the environment sets
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Server:
    """A running TensorBoard: its base URL and the run directory it serves."""

    def __init__(self, url: str, logdir: Path):
        self.url = url
        self.logdir = logdir

    def get(self, route: str, **query: str) -> tuple[bytes, str]:
        """GET a route; returns (body, content type)."""
        url = self.url + route + ("?" + urllib.parse.urlencode(query) if query else "")
        with LOCAL.open(url, timeout=5) as response:
            return response.read(), response.headers.get_content_type()

    def get_json(self, route: str, **query: str):
        body, content_type = self.get(route, **query)
        assert content_type == "application/json", (route, content_type)
        return json.loads(body)

    def poll_json(self, route: str, done: Callable[[object], bool], **query: str):
        """The route's JSON once `done(body)` holds; the last body seen when time runs out.

        TensorBoard answers before it has read every event file, so a body may be partial
        at first.
        """
        deadline = time.monotonic() + DATA_TIMEOUT_S
        while True:
            try:
                body = self.get_json(route, **query)
            except urllib.error.HTTPError as error:
                if error.code != 404 or time.monotonic() > deadline:  # 404: not loaded yet
                    raise
                body = None
            if (body is not None and done(body)) or time.monotonic() > deadline:
                return body
            time.sleep(0.1)


def tensorboard_program() -> str:
    """The `tensorboard` script installed next to this Python (or on PATH)."""
    beside = Path(sys.executable).with_name("tensorboard")
    found = str(beside) if beside.exists() else shutil.which("tensorboard")
    assert found, "no `tensorboard` program: is the tensorboard package installed?"
    return found


def wait_until_serving(process: subprocess.Popen, stderr_file: Path) -> str:
    """Poll TensorBoard's stderr for its URL, then its API until it answers; returns the URL."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"tensorboard exited with code {process.returncode} before serving:\n"
                + stderr_file.read_text()
            )
        if url is None and (match := SERVING.search(stderr_file.read_text())):
            url = match.group(1)
        if url is not None:
            try:
                with LOCAL.open(url + "/data/environment", timeout=2):
                    return url
            except OSError:
                pass
        time.sleep(0.1)
    pytest.fail(
        f"tensorboard did not serve within {STARTUP_TIMEOUT_S:.0f} s (url: {url}); stderr:\n"
        + stderr_file.read_text()
    )


def stop(process: subprocess.Popen) -> None:
    """SIGTERM (TensorBoard exits cleanly and its data server with it), SIGKILL if it hangs."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextlib.contextmanager
def running_tensorboard(logdir: Path, scratch: Path, *flags: str) -> Iterator[Server]:
    """`tensorboard --logdir <logdir>` on a port the OS picks, stopped on leaving."""
    stderr_file = scratch / "stderr.txt"
    command = [tensorboard_program(), f"--logdir={logdir}", "--host=127.0.0.1", "--port=0", *flags]
    # TMPDIR: TensorBoard's instance registry and its data server's port file stay in scratch
    env = {**os.environ, "TMPDIR": str(scratch)}
    with open(stderr_file, "w") as stderr, open(scratch / "stdout.txt", "w") as stdout:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env
        )
    try:
        yield Server(wait_until_serving(process, stderr_file), logdir)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def server(trained_runs, tmp_path_factory) -> Iterator[Server]:
    """TensorBoard serving the cnn run's directory.

    Its loader is left at the default, as `tensorboard --logdir logs` runs it: the Rust data
    server where tensorboard-data-server is installed, else the Python one.
    """
    run_dir, _ = trained_runs["cnn"]
    # the default keeps 10 images per tag; the test compares every epoch's image
    flags = ["--samples_per_plugin=images=1000"]
    with running_tensorboard(run_dir, tmp_path_factory.mktemp("tensorboard_server"), *flags) as tb:
        yield tb


def event_runs(logdir: Path) -> set[str]:
    """The runs TensorBoard should list: each directory holding event files, relative to logdir."""
    return {
        path.parent.relative_to(logdir).as_posix() for path in logdir.rglob("events.out.tfevents.*")
    }


def served_run(server: Server) -> str:
    expected = event_runs(server.logdir)
    assert len(expected) == 1, expected
    runs = server.poll_json("/data/runs", lambda runs: set(runs) >= expected)
    assert set(runs) == expected, "run list served by TensorBoard"
    return runs[0]


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk that follows the PNG signature."""
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_run_is_listed(server):
    run = served_run(server)
    assert run == "tensorboard"  # trainkit writes its events to <run dir>/tensorboard/


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
    assert len(images) == read_summary(server.logdir)["epochs_completed"] == len(logged)
    assert [image["step"] for image in images] == [image.step for image in logged]

    # the image's URL is opaque to clients: the listing hands out its query string
    png, content_type = server.get("/data/plugin/images/individualImage?" + images[-1]["query"])
    assert content_type == "image/png"
    assert png.startswith(PNG_SIGNATURE)
    assert png == logged[-1].encoded_image_string
    assert png_size(png) == (logged[-1].width, logged[-1].height)
