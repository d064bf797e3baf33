"""One run directory, one run.

A directory that already holds something is refused, unless the command resumes the run in it,
and a running run holds an OS-level lock on its directory for the rest of the process
(trainkit.checkpoints.lock: `.trainkit.lock` in it), so no second process writes there.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

from trainkit.checkpoints import lock
from trainkit.checkpoints.lock import LOCK_FILE
from trainkit.errors import ForeignRunError, TrainkitError

# Entries that say nothing about a run: a directory holding only these counts as empty.
HARMLESS = {LOCK_FILE, ".gitkeep", ".DS_Store"}
# What a run leaves that a second run would overwrite (a resume continues them).
OUTPUTS = ("summary.json", "checkpoints", "tensorboard", "predictions.csv")
RUN_MARKS = (".hydra", *OUTPUTS, "train.log", "eval.log", "predict.log")
# Free space a new run needs at least; a resume also needs room for two of its checkpoints.
MIN_FREE_MB = 16
# The way out of a run directory that cannot take this run.
NEW_DIR = (
    "give this run a new directory (hydra.run.dir=NEW_DIR), or leave hydra.run.dir out for "
    "one under logs/"
)

# Run directories checked before Hydra started: the first run in this process takes them as
# they are (Hydra has written its config there since).
_CHECKED: set[Path] = set()


def secondary_process() -> bool:
    """Whether this is a helper process of a distributed run (rank > 0): its rank-0 process
    checked and holds the run directory. Reads the variables Lightning reads, in its order."""
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        value = os.environ.get(key)
        if value is not None:
            return value.strip() not in ("", "0")
    return False


def run_dir_path(value: object) -> Path:
    """The absolute run directory `hydra.run.dir` names, or the error that says what is wrong."""
    text = "" if value is None else str(value).strip()
    if not text or text == "None":
        raise TrainkitError(
            "hydra.run.dir is empty: give the run a directory (hydra.run.dir=PATH), or leave "
            "hydra.run.dir out for a new one under logs/."
        )
    if text == "~" or text.startswith("~/"):
        raise TrainkitError(
            f"hydra.run.dir={text} starts with ~, which is not expanded here; write the full "
            f"path: hydra.run.dir={Path(text).expanduser()}"
        )
    path = Path(text).absolute()
    above = _existing(path)
    if not above.is_dir():
        what = "is a file" if above == path else f"lies below a file ({above})"
        raise TrainkitError(f"hydra.run.dir={text} {what}, not a directory: {NEW_DIR}.")
    return path.resolve()


def earlier_contents(run_dir: Path) -> list[str]:
    """What `run_dir` already holds (names of its entries), [] when it is new or empty."""
    if not run_dir.is_dir():
        return []
    return sorted(p.name for p in run_dir.iterdir() if p.name not in HARMLESS)


def holds_a_run(names: list[str]) -> bool:
    """Whether entries of a directory show a run (its config, checkpoints, summary, events)."""
    return any(n in RUN_MARKS or n.startswith("events.out.tfevents") for n in names)


def listing(names: list[str], most: int = 4) -> str:
    """`a, b, c and 2 more`."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def claim_run_dir(value: object, resume: bool, refusal: str, hold: bool = True) -> Path:
    """Before Hydra writes anything: check that the run directory can take this run (new or
    empty; for a resume, the run's own) and is writable with room; then, with `hold`, make it
    and hold it (the run holds it anyway when it starts). `refusal`: the way out when it holds
    something else. Returns the directory."""
    run_dir = run_dir_path(value)
    pid = lock.holder(run_dir)
    if pid is not None:
        raise in_use(run_dir, pid)
    found = [] if resume else earlier_contents(run_dir)
    if found:
        what = "a run" if holds_a_run(found) else "other files"
        raise ForeignRunError(
            f"{run_dir} already holds {what} ({listing(found)}); a run directory takes one run: "
            f"{refusal}"
        )
    check_writable(run_dir, resume)
    check_room(run_dir, resume)
    if not hold:
        return run_dir
    created = [p for p in (run_dir, *run_dir.parents) if not p.exists()]
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        _acquire(run_dir)
    except OSError as exc:
        for folder in created:  # nothing left behind by a refused command
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise cannot_write(run_dir, exc, resume) from None
    if not resume and earlier_contents(run_dir):  # another run came and went since the look
        release_run_dir(run_dir)
        return claim_run_dir(value, resume, refusal, hold)
    _CHECKED.add(run_dir)
    return run_dir


def hold_run_dir(run_dir: str | Path, resume_from: str | Path | None = None) -> None:
    """Hold `run_dir` for this process (train, eval and predict call it first): refused while
    another process holds it, or when it holds an earlier run's outputs, unless `resume_from`
    is its own checkpoints/last.ckpt. A directory checked before Hydra started passes once."""
    if secondary_process():  # the rank-0 process holds it
        return
    path = Path(run_dir).expanduser().resolve()
    if path in _CHECKED and lock.holds(path):
        _CHECKED.discard(path)  # a second run in this process is checked like any other
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        new = _acquire(path)
    except OSError as exc:
        raise cannot_write(path, exc, resume_from is not None) from None
    found = [n for n in OUTPUTS if (path / n).exists()]
    if found and not resumes_in(path, resume_from):
        if new:
            lock.release(path)
        raise ForeignRunError(
            f"{path} already holds a run ({listing(found)}); a run directory takes one run: "
            f"{NEW_DIR}."
        )


def resumes_in(run_dir: Path, ckpt_path: str | Path | None) -> bool:
    """Whether `ckpt_path` is run_dir/checkpoints/last.ckpt: a resume that continues in place."""
    if not ckpt_path:
        return False
    last = run_dir / "checkpoints" / "last.ckpt"
    return Path(str(ckpt_path)).expanduser().resolve() == last.resolve()


def check_writable(run_dir: Path, resume: bool) -> None:
    """Refuse a run directory (or the folder it would be made in) that this user cannot write."""
    for folder in (run_dir / "checkpoints", _existing(run_dir)):
        if not folder.is_dir():
            continue
        if hasattr(os, "statvfs") and os.statvfs(folder).f_flag & os.ST_RDONLY:
            raise cannot_write(run_dir, OSError(errno.EROFS, "read-only"), resume)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise cannot_write(run_dir, OSError(errno.EACCES, "permission denied"), resume)


def _existing(path: Path) -> Path:
    """`path`, or the nearest folder above it that exists."""
    return next(p for p in (path, *path.parents) if p.exists())


def check_room(run_dir: Path, resume: bool) -> None:
    """Refuse a disk without room for the run's checkpoints."""
    checkpoints = list((run_dir / "checkpoints").glob("*.ckpt")) if resume else []
    need = MIN_FREE_MB + 2 * max((p.stat().st_size for p in checkpoints), default=0) / 2**20
    free = shutil.disk_usage(_existing(run_dir)).free / 2**20
    if free < need:
        raise TrainkitError(
            f"Only {free:.1f} MB free on the disk of {run_dir}; this run needs at least "
            f"{need:.0f} MB there for what it writes: free some space, or "
            + (
                "copy the run to another disk and resume the copy."
                if resume
                else "give the run a directory on another disk (hydra.run.dir=...)."
            )
        )


def cannot_write(run_dir: Path, exc: OSError, resume: bool) -> TrainkitError:
    """A run directory the machine will not let this run write: why, and the way out."""
    reasons = {
        errno.EROFS: "it is on a read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is used up",
    }
    reason = reasons.get(exc.errno or 0, exc.strerror or str(exc))
    way = (
        "copy the run to a writable place and resume the copy "
        "(ckpt_path=COPY/checkpoints/last.ckpt)"
        if resume
        else "give the run a writable directory (hydra.run.dir=...)"
    )
    return TrainkitError(f"Cannot write the run directory {run_dir}: {reason}; {way}.")


def in_use(run_dir: Path, pid: int) -> ForeignRunError:
    """The error for a run directory another process holds."""
    who = f" (pid {pid})" if pid else ""
    return ForeignRunError(
        f"{run_dir} is in use by another trainkit process{who}: wait for it to finish, or "
        f"{NEW_DIR}."
    )


def release_run_dir(run_dir: str | Path) -> None:
    """Let go of a run directory this process holds (a normal exit lets go of all of them)."""
    path = Path(run_dir).expanduser().resolve()
    _CHECKED.discard(path)
    lock.release(path)


def _acquire(run_dir: Path) -> bool:
    """lock.acquire, with another process's hold said as the error the user sees."""
    try:
        return lock.acquire(run_dir)
    except lock.Locked as held:
        raise in_use(run_dir, held.pid) from None
