"""What the scripts share: run a job and turn user mistakes into one clear line, not a traceback."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from trainkit.errors import ForeignRunError, exit_with, machine_error, user_error


def run_or_explain(job: Callable[[DictConfig], Any] | str, cfg: DictConfig) -> Any:
    """Run `job(cfg)`; a TrainkitError prints one `Error: ...` line and exits 2, an interrupt
    exits 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM). A run directory is never
    left without summary.json, even when the job stopped before it could write one. `job` may be
    the dotted name of a function, imported here: Ctrl-C while torch loads is a stop like any
    other.

    HYDRA_FULL_ERROR=1 shows the full traceback instead.
    """
    from trainkit.checkpoints.interrupt import TrainingInterrupted
    from trainkit.cli.console import tidy_console

    tidy_console()
    threading.excepthook = _quiet_machine_faults
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if _HELD:  # Ctrl-C came while Hydra started this run
            _HELD.clear()
            raise KeyboardInterrupt
        if isinstance(job, str):
            module, _, name = job.rpartition(".")
            job = getattr(importlib.import_module(module), name)
        return job(cfg)
    except TrainingInterrupted as exc:  # the run said how to resume; no traceback
        _leave_summary(cfg, "interrupted")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _leave_summary(cfg, "interrupted")
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        error = user_error(exc)
        if not isinstance(error, ForeignRunError):
            _leave_summary(cfg, "failed", str(error or f"{type(exc).__name__}: {exc}"))
        if error is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        exit_with(error)


def _quiet_machine_faults(args: threading.ExceptHookArgs) -> None:
    """A background thread (TensorBoard's event writer) hit a full disk or the like: the run
    itself says so in its one Error line, so no thread traceback is printed as well."""
    if machine_error(args.exc_value) is None:
        threading.__excepthook__(args)


def _leave_summary(cfg: DictConfig, status: str, error: str | None = None) -> None:
    """summary.json in this run's directory if the job left none (never in a resumed run's:
    a refused resume leaves the earlier run as it was)."""
    from omegaconf import OmegaConf

    from trainkit.cli.resolvers import run_of
    from trainkit.report.summary import leave_summary

    try:
        run_dir = Path(OmegaConf.select(cfg, "paths.output_dir", default=None))
        resumed = run_of(OmegaConf.select(cfg, "ckpt_path", default=None))
    except Exception:  # no run directory to speak of
        return
    rank_zero = all(os.environ.get(v, "0") == "0" for v in ("RANK", "LOCAL_RANK"))
    if rank_zero and (resumed is None or resumed != run_dir.resolve()):
        leave_summary(run_dir, str(cfg.get("experiment") or "default"), status, error)


def launch(config_name: str, main: Callable[[], Any], script: str) -> None:
    """What every script runs: check the command line (conf/ next to scripts/), then Hydra's
    `main`. Ctrl-C before a run takes over the signal exits 130 with one word, no traceback."""
    from trainkit.cli.help import help_text, wants_help
    from trainkit.cli.preflight import check_command_line

    conf_dir = Path(script).resolve().parents[1] / "conf"
    try:
        if wants_help(sys.argv[1:]):
            with contextlib.suppress(Exception):  # a config that does not compose: Hydra says why
                print(help_text(config_name, sys.argv[1:], conf_dir), end="")
                sys.exit(0)
        check_command_line(config_name, sys.argv[1:], conf_dir)
        # Hydra now makes the run directory and writes its config: a Ctrl-C in between waits
        # for the job (run_or_explain), which then stops and leaves summary.json there
        signal.signal(signal.SIGINT, _hold_interrupt)
        code = main()
        if _HELD:  # the job never started (Hydra only printed, say)
            raise KeyboardInterrupt
        sys.exit(code)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)


_HELD: list[int] = []


def _hold_interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C while Hydra starts the run: held for the job; a second one stops at once."""
    if _HELD:
        raise KeyboardInterrupt
    _HELD.append(signum)
