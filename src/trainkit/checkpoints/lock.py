"""An OS-level lock on a folder for the rest of the process: `fcntl.flock` on a file in it,
held through an open file. It goes with the process however that ends, kill -9 included; the
file itself goes at a normal exit (removed while still locked, so nobody takes a vanishing one).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; folders are not locked there
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".trainkit.lock"
# File systems without locks: the folder is used unlocked, as before locks existed.
NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)


class Locked(Exception):
    """Another process holds the folder; `pid` is its process id (0 when it cannot be told)."""

    def __init__(self, pid: int) -> None:
        super().__init__(f"held by process {pid}")
        self.pid = pid


@dataclass
class _Hold:
    fd: int
    lock: Path
    pid: int


_HELD: dict[Path, _Hold] = {}


def holds(folder: Path) -> bool:
    """Whether this process holds `folder` (an absolute, resolved path)."""
    return folder in _HELD


def holder(folder: Path) -> int | None:
    """The pid of another process holding `folder` (0 when it cannot be told), None if none
    does. Looks without creating anything."""
    if fcntl is None or folder in _HELD:
        return None
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None  # no lock file: nobody holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _pid_in(fd)
    except OSError:
        return None  # a file system without locks
    finally:
        os.close(fd)
    return None


def acquire(folder: Path) -> bool:
    """Hold `folder` for the rest of this process; False when it already does. Raises Locked
    when another process holds it, OSError when the folder cannot be written."""
    if folder in _HELD:
        return False
    lock = folder / LOCK_FILE
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if fcntl is None or _same_file(fd, lock):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                break
        except BlockingIOError:
            pid = _pid_in(fd)
            os.close(fd)
            raise Locked(pid) from None
        except OSError as exc:
            if exc.errno not in NO_LOCKS:
                os.close(fd)
                raise
            break
        os.close(fd)  # its last holder removed it as this process opened it: open it anew
    _HELD[folder] = _Hold(fd, lock, os.getpid())
    return True


def release(folder: Path) -> None:
    """Let go of `folder` (a normal exit lets go of every folder this process holds)."""
    hold = _HELD.pop(folder, None)
    if hold is None or hold.pid != os.getpid():  # a forked child leaves its parent's alone
        return
    with contextlib.suppress(OSError):
        if _same_file(hold.fd, hold.lock):
            hold.lock.unlink()
    with contextlib.suppress(OSError):
        os.close(hold.fd)


@atexit.register
def _release_all() -> None:
    for folder in list(_HELD):
        release(folder)


def _same_file(fd: int, path: Path) -> bool:
    try:
        mine, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def _pid_in(fd: int) -> int:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0)
    except (OSError, ValueError):
        return 0
