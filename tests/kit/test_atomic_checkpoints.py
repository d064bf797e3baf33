"""Every checkpoint is written whole, beside its target, and a resume keeps best.ckpt and
summary.json in agreement: after a kill while saving, with a damaged best.ckpt, and after the run
directory moved.

The callbacks below are loaded by real training processes (`+callbacks.NAME={_target_:
kit.test_atomic_checkpoints....}`: tests/ is on their Python path).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import QUIET, read_summary, run_script
from hydra.utils import instantiate

HERE = "kit.test_atomic_checkpoints"
BINARY = ["+experiment=tiny_binary", *QUIET]


# -- callbacks for the training processes ---------------------------------------------------
class WriteAudit(L.Callback):
    """Records every file the process opens for writing, creates as a temporary file or
    renames (Python's audit events), and writes the list as JSON to `out` at the end."""

    def __init__(self, out: str) -> None:
        self.out, self.events = Path(out), []
        sys.addaudithook(self._hear)

    def _hear(self, event: str, args: tuple) -> None:
        if event == "open" and isinstance(args[0], (str, Path)):
            mode, flags = args[1], args[2] or 0
            if (mode and set(mode) & set("wax+")) or flags & (os.O_WRONLY | os.O_RDWR):
                self.events.append(["write", str(args[0])])
        elif event in ("os.rename", "shutil.copyfile"):
            self.events.append(["rename" if event == "os.rename" else "copy", *map(str, args[:2])])
        elif event == "tempfile.mkstemp":
            self.events.append(["mkstemp", str(args[0])])

    def teardown(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit":
            self.out.write_text(json.dumps(list(self.events)))


class ZeroWeightsFrom(L.Callback):
    """From epoch `epoch` on, every epoch starts from all-zero weights: a worse model each time."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch >= self.epoch:
            with torch.no_grad():
                for parameter in pl_module.parameters():
                    parameter.zero_()


class _KillWhenPickled:
    def __reduce__(self):
        os.kill(os.getpid(), signal.SIGKILL)


class KillWhileSaving(L.Callback):
    """kill -9 of the process in the middle of writing its `nth` checkpoint."""

    def __init__(self, nth: int) -> None:
        self.nth, self.saves = nth, 0

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        self.saves += 1
        if self.saves == self.nth:
            checkpoint["kill"] = _KillWhenPickled()  # torch.save pickles it inside the file


def callback(name: str, cls: str, **kwargs) -> str:
    args = "".join(f", {k}: {v if isinstance(v, int) else repr(str(v))}" for k, v in kwargs.items())
    return f"+callbacks.{name}={{_target_: {HERE}.{cls}{args}}}"


# -- helpers ----------------------------------------------------------------------------------
def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def eval_metrics(best: Path) -> dict[str, float]:
    """What scripts/eval.py reports for `best`: its test metrics, computed here in process."""
    from trainkit.checkpoints.files import load_checkpoint
    from trainkit.run.evaluate import restore_model, training_config

    checkpoint = load_checkpoint(best)
    cfg = training_config(best, checkpoint)
    model = restore_model(cfg, checkpoint, best)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    return trainer.test(model, datamodule=instantiate(cfg.data), verbose=False)[0]


def assert_best_agrees(run_dir: Path) -> dict:
    """summary.json's best epoch is the epoch in best.ckpt, and its test metrics are best.ckpt's."""
    summary = read_summary(run_dir)
    assert summary["status"] == "completed", summary.get("error")
    best = run_dir / summary["best_checkpoint"]
    assert best == run_dir / "checkpoints" / "best.ckpt"
    assert torch.load(best, weights_only=True)["epoch"] == summary["best_epoch"]
    expected = eval_metrics(best)
    for key, value in expected.items():
        assert summary["metrics"][key] == pytest.approx(value, abs=1e-6), key
    return summary


def resume(run_dir: Path, *args: str) -> subprocess.CompletedProcess:
    last = run_dir / "checkpoints" / "last.ckpt"
    result = run_script("train.py", *BINARY, *args, f"ckpt_path={last}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """Two epochs, with every file write recorded and TMPDIR pointing at an empty folder."""
    folder = tmp_path_factory.mktemp("audited")
    system_tmp, log = folder / "system-tmp", folder / "writes.json"
    system_tmp.mkdir()
    args = [*BINARY, "trainer.max_epochs=2", callback("audit", "WriteAudit", out=log)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(system_tmp))  # for the training process
        result = run_script("train.py", *args, f"hydra.run.dir={folder / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    return folder / "run", system_tmp, json.loads(log.read_text())


# -- tests ------------------------------------------------------------------------------------
def test_checkpoints_are_written_beside_their_target_and_renamed_whole(audited):
    run_dir, system_tmp, events = audited
    checkpoints = (run_dir / "checkpoints").resolve()
    assert not list(system_tmp.iterdir())
    assert not [e for e in events if any(str(system_tmp) in part for part in e[1:])]
    renamed = [e for e in events if e[0] == "rename" and e[2].endswith(".ckpt")]
    # best.ckpt at epochs 0 and 1 (if it improved), last.ckpt at epoch 1's start and the end
    assert len(renamed) >= 3, events
    for _, source, target in renamed:
        assert Path(target).parent.resolve() == checkpoints
        assert Path(source).parent.resolve() == checkpoints and source == f"{target}.partial"
    written = [e[1] for e in events if e[0] == "write" and ".ckpt" in e[1]]
    assert written and all(path.endswith(".ckpt.partial") for path in written), written
    assert not [e for e in events if e[0] in ("copy", "mkstemp") and ".ckpt" in str(e)]
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]


def test_a_failed_write_leaves_the_earlier_checkpoint(tmp_path):
    from trainkit.checkpoints.atomic import AtomicCheckpointIO

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot be saved")

    target = tmp_path / "best.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError, match="cannot be saved"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "x": Unpicklable()}, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt"]


def test_a_kill_while_saving_keeps_the_earlier_checkpoints_and_the_run_resumes(tmp_path):
    run_dir = tmp_path / "run"
    # saves: best.ckpt after epoch 0, last.ckpt as epoch 1 starts, then the third is killed
    killed = run_script(
        "train.py",
        *BINARY,
        "trainer.max_epochs=3",
        callback("kill", "KillWhileSaving", nth=3),
        f"hydra.run.dir={run_dir}",
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    checkpoints = run_dir / "checkpoints"
    partial = [p.name for p in checkpoints.iterdir() if p.name.endswith(".partial")]
    assert len(partial) == 1, partial  # the write that was cut short, beside its target
    assert {"best.ckpt", "last.ckpt"} <= {p.name for p in checkpoints.iterdir()}
    for name in ("best.ckpt", "last.ckpt"):
        assert torch.load(checkpoints / name, weights_only=True)["state_dict"]

    resume(run_dir, "trainer.max_epochs=3")  # the lock of the killed process went with it
    summary = read_summary(run_dir)
    assert summary["epochs_completed"] == 3
    assert_best_agrees(run_dir)


def test_a_damaged_best_checkpoint_is_said_and_forgotten_on_resume(tmp_path, audited):
    run_dir = tmp_path / "run"
    shutil.copytree(audited[0], run_dir)
    best = run_dir / "checkpoints" / "best.ckpt"
    best.write_bytes(best.read_bytes()[: best.stat().st_size // 2])

    # the epochs after the resume are worse: the old best would have stayed
    result = resume(run_dir, "trainer.max_epochs=4", callback("zero", "ZeroWeightsFrom", epoch=2))
    said = [line for line in result.stderr.splitlines() if "best.ckpt is truncated" in line]
    assert len(said) == 1 and "best epoch so far is forgotten" in said[0], result.stderr[-3000:]
    summary = assert_best_agrees(run_dir)
    assert summary["best_epoch"] in (2, 3)


def test_a_moved_run_resumes_with_its_best(tmp_path, audited):
    original = audited[0]
    before = snapshot(original)
    best_epoch = read_summary(original)["best_epoch"]
    moved = tmp_path / "elsewhere" / "run"
    shutil.copytree(original, moved)

    result = resume(moved, "trainer.max_epochs=4", callback("zero", "ZeroWeightsFrom", epoch=2))
    summary = assert_best_agrees(moved)
    assert "dirpath has changed" not in result.stderr + result.stdout
    assert summary["best_epoch"] == best_epoch  # the zeroed epochs were all worse
    assert snapshot(original) == before


def test_best_checkpoint_state_resumes_with_either_class(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    from trainkit.callbacks import BestCheckpoint
    from trainkit.callbacks.best import moved
    from trainkit.checkpoints.atomic import AtomicCheckpointIO, with_atomic_io

    kwargs = {"dirpath": str(tmp_path), "filename": "best", "monitor": "val/loss"}
    assert BestCheckpoint(**kwargs).state_key == ModelCheckpoint(**kwargs).state_key
    state = {"dirpath": "/a/run/checkpoints", "best_model_path": "/a/run/checkpoints/best.ckpt"}
    state["best_k_models"] = {state["best_model_path"]: torch.tensor(0.5)}
    there = moved(state, "/a/run/checkpoints", "/b/run/checkpoints")
    assert there["best_model_path"] == "/b/run/checkpoints/best.ckpt"
    assert list(there["best_k_models"]) == ["/b/run/checkpoints/best.ckpt"]
    # a configured CheckpointIO is kept, other plugins are kept beside the kit's
    mine = AtomicCheckpointIO()
    assert with_atomic_io([mine]) == [mine]
    assert [type(p) for p in with_atomic_io(None)] == [AtomicCheckpointIO]
    assert with_atomic_io(["bf16-mixed"])[0] == "bf16-mixed"
