"""One run directory, one run: a directory that holds something is refused before anything is
written into it (unless the command resumes the run in it), one that cannot be written is said
in one line, and a running run holds a lock that keeps out every other process."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
from conftest import QUIET, REPO, read_summary, run_script, script_env, train_script, train_until

from trainkit.errors import ForeignRunError

BINARY = ["+experiment=tiny_binary", *QUIET]


class HoldAt(L.Callback):
    """In a training process: at the start of epoch `epoch`, write `marker`, then wait (within
    the epoch, its run directory held) until `release` exists."""

    def __init__(self, epoch: int, marker: str, release: str) -> None:
        self.epoch, self.marker, self.release = epoch, Path(marker), Path(release)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch and not self.marker.exists():
            self.marker.touch()
            deadline = time.time() + 300
            while not self.release.exists() and time.time() < deadline:
                time.sleep(0.05)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below `folder` with a hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def error_line(result: subprocess.CompletedProcess) -> str:
    """The one `Error:` line of a refused command (exit code 2, no traceback)."""
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    return train_script(run_dir, *BINARY, "trainer.max_epochs=2")


@contextlib.contextmanager
def mounted(*args: str):
    """`mount ARGS...` for the block (root only), or skip the test where mounting is refused."""
    target = args[-1]
    if os.geteuid() != 0 or subprocess.run(["mount", *args], capture_output=True).returncode:
        pytest.skip("needs root and mount (a read-only or full file system)")
    try:
        yield
    finally:
        subprocess.run(["umount", target], check=True)


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder` read-only for the block: by permissions, or for root a read-only bind mount."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    with mounted("--bind", str(folder), str(folder)):
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        yield


def test_a_directory_holding_a_run_is_refused_and_left_as_it_was(finished_run):
    before = snapshot(finished_run)
    again = run_script("train.py", *BINARY, "trainer.max_epochs=2", f"hydra.run.dir={finished_run}")
    line = error_line(again)
    assert f"{finished_run} already holds a run (.hydra, checkpoints, summary.json" in line
    assert "hydra.run.dir=NEW_DIR" in line
    continued = f"ckpt_path={finished_run}/checkpoints/last.ckpt"
    assert line.endswith(
        f"python scripts/train.py {' '.join(BINARY)} trainer.max_epochs=2 {continued}"
    )
    best = finished_run / "checkpoints" / "best.ckpt"
    for script in ("eval.py", "predict.py"):
        line = error_line(run_script(script, f"ckpt_path={best}", f"hydra.run.dir={finished_run}"))
        assert "already holds a run" in line and "ckpt_path" not in line.split("run:")[-1]
    # also when Hydra is asked for full tracebacks
    env = {**script_env(), "HYDRA_FULL_ERROR": "1"}
    command = [sys.executable, "scripts/train.py", *BINARY, f"hydra.run.dir={finished_run}"]
    loud = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert "already holds a run" in error_line(loud)
    assert snapshot(finished_run) == before


def test_a_run_directory_that_cannot_be_one_is_one_line(tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    line = error_line(run_script("train.py", *BINARY, "hydra.run.dir=", cwd=cwd))
    assert "hydra.run.dir is empty" in line
    assert not list(cwd.iterdir())  # nothing written where the command was typed
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    for where, says in [
        (a_file, f"hydra.run.dir={a_file} is a file, not a directory"),
        (a_file / "run", f"lies below a file ({a_file})"),
        (tmp_path, f"{tmp_path} already holds other files (cwd, notes.txt)"),
        ("${oc.env:TRAINKIT_NO_SUCH_VARIABLE}", "hydra.run.dir cannot be resolved"),
    ]:
        assert says in error_line(run_script("train.py", *BINARY, f"hydra.run.dir={where}"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "notes.txt"]
    assert a_file.read_text() == "mine\n"


def test_a_read_only_run_directory_is_one_line(tmp_path, finished_run):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    before = snapshot(run_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    with read_only(tmp_path):
        new = run_script("train.py", *BINARY, f"hydra.run.dir={tmp_path / 'new'}")
        resumed = run_script("train.py", *BINARY, "trainer.max_epochs=3", f"ckpt_path={last}")
    assert f"Cannot write the run directory {tmp_path / 'new'}" in error_line(new)
    line = error_line(resumed)
    assert f"Cannot write the run directory {run_dir}" in line
    assert "copy the run to a writable place and resume the copy" in line
    assert snapshot(run_dir) == before


def test_a_disk_without_room_is_one_line(tmp_path, finished_run):
    disk = tmp_path / "disk"
    disk.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)):
        shutil.copytree(finished_run, disk / "run")
        before = snapshot(disk / "run")
        new = run_script("train.py", *BINARY, f"hydra.run.dir={disk / 'new'}")
        last = disk / "run" / "checkpoints" / "last.ckpt"
        resumed = run_script("train.py", *BINARY, "trainer.max_epochs=3", f"ckpt_path={last}")
        assert "MB free on the disk of" in error_line(new)
        assert "copy the run to another disk" in error_line(resumed)
        assert not (disk / "new").exists() and snapshot(disk / "run") == before


def test_a_second_process_is_refused_while_a_run_holds_its_directory(tmp_path, finished_run):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    marker, release = tmp_path / "marker", tmp_path / "release"
    last = run_dir / "checkpoints" / "last.ckpt"
    hold = (
        f"+callbacks.hold={{_target_: kit.test_run_dir.HoldAt, epoch: 2, marker: '{marker}', "
        f"release: '{release}'}}"
    )
    first = train_until(marker, *BINARY, "trainer.max_epochs=3", hold, f"ckpt_path={last}")
    before = snapshot(run_dir)
    second = run_script("train.py", *BINARY, "trainer.max_epochs=3", f"ckpt_path={last}")
    after = snapshot(run_dir)
    release.touch()
    line = error_line(second)
    assert f"{run_dir} is in use by another trainkit process (pid {first.pid})" in line
    assert "wait for it to finish" in line
    # (the first run's TensorBoard writer may flush meanwhile: its files are only named here)
    assert after.keys() == before.keys()
    assert {k: v for k, v in after.items() if not k.startswith("tensorboard")} == {
        k: v for k, v in before.items() if not k.startswith("tensorboard")
    }
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-3000:]
    assert len(list((run_dir / ".hydra").glob("resumed_*"))) == 1  # the first one's only
    assert read_summary(run_dir)["epochs_completed"] == 3


def test_the_lock_goes_with_its_process(tmp_path):
    from trainkit.checkpoints.rundir import LOCK_FILE, hold_run_dir, release_run_dir

    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from trainkit.checkpoints.rundir import hold_run_dir; "
            "hold_run_dir(sys.argv[1]); print('held', flush=True); time.sleep(120)",
            str(run_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(
            ForeignRunError, match=rf"in use by another trainkit process \(pid {holder.pid}\)"
        ):
            hold_run_dir(run_dir)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (run_dir / LOCK_FILE).exists()  # a kill leaves the file, not the lock
    hold_run_dir(run_dir)
    release_run_dir(run_dir)
    assert not list(run_dir.iterdir())


def test_a_run_in_process_refuses_a_directory_with_an_earlier_run(tmp_path, monkeypatch):
    from trainkit.checkpoints.rundir import hold_run_dir, release_run_dir

    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "summary.json").write_text("{}")
    with pytest.raises(ForeignRunError, match="already holds a run"):  # nothing written there
        hold_run_dir(run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoints", "summary.json"]
    hold_run_dir(run_dir, run_dir / "checkpoints" / "last.ckpt")  # a resume in place
    release_run_dir(run_dir)
    monkeypatch.setenv("LOCAL_RANK", "1")  # a DDP helper process: its rank 0 holds the directory
    hold_run_dir(run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoints", "summary.json"]
