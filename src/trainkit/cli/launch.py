"""What the scripts share: run a job and turn user mistakes into one clear line, not a traceback."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from trainkit.errors import exit_with, user_error


def run_or_explain(job: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """Run `job(cfg)`; a TrainkitError prints one `Error: ...` line and exits 2, an interrupt
    exits 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM).

    HYDRA_FULL_ERROR=1 shows the full traceback instead.
    """
    from trainkit.checkpoints.interrupt import TrainingInterrupted
    from trainkit.cli.console import tidy_console

    tidy_console()
    try:
        return job(cfg)
    except TrainingInterrupted as exc:  # the run said how to resume; no traceback
        sys.exit(exc.exit_code)
    except Exception as exc:
        error = user_error(exc)
        if error is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        exit_with(error)


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
        sys.exit(main())
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
