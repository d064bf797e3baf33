"""Ctrl-C and SIGTERM as a request to stop cleanly: save where training stands, then stop.

While training steps run, the first signal only records the request; the training loop sees it
after the current batch, saves `checkpoints/last.ckpt` and stops (see callbacks.LastCheckpoint).
Anywhere else, and on a second signal, the run stops at once with TrainingInterrupted.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(BaseException):
    """The run was stopped by Ctrl-C (SIGINT) or SIGTERM (a BaseException, like
    KeyboardInterrupt, so that no `except Exception` swallows or rewraps it)."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"interrupted by {self.signal_name}")

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum


class StopRequest:
    """The process's SIGINT/SIGTERM handler; `deferring` is True while training batches run."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.deferring = False
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def installed(self) -> bool:
        return bool(self._previous)

    def install(self) -> None:
        """Take over SIGINT and SIGTERM (again, if a library replaced the handler meanwhile)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in SIGNALS:
            previous = signal.signal(signum, self._handle)
            self._previous.setdefault(signum, previous)

    def restore(self) -> None:
        """Give the signals back to whoever had them before, and forget any request."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}
        self.signum = None
        self.deferring = False

    def _handle(self, signum: int, frame: Any) -> None:
        if self.deferring and self.signum is None:
            self.signum = signum
            # os.write: print() is not safe inside a signal handler.
            os.write(
                2,
                f"\n{signal.Signals(signum).name} received: saving checkpoints/last.ckpt at the "
                "next safe point (after this batch, or once validation ends), then stopping. "
                "Press Ctrl-C again to stop at once.\n".encode(),
            )
            return
        self.signum = signum
        raise TrainingInterrupted(signum)


STOP = StopRequest()


@contextmanager
def stop_signals() -> Iterator[StopRequest]:
    """Handle SIGINT/SIGTERM as stop requests for the duration of a run."""
    STOP.install()
    try:
        yield STOP
    finally:
        STOP.restore()


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back while the run writes what it must (summary.json) on its way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
