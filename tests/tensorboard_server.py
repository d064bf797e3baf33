"""The real `tensorboard` program on a free port, for tests that read what it serves."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

STARTUP_TIMEOUT_S = 20.0
DATA_TIMEOUT_S = 10.0
# TensorBoard prints this line on stderr once it listens, e.g.
# "TensorBoard 2.21.0 at http://127.0.0.1:41235/ (Press CTRL+C to quit)".
SERVING = re.compile(r"TensorBoard \S+ at (http://\S+?)/? \(Press CTRL\+C")
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
