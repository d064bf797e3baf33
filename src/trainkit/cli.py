"""What the scripts share: run a job and turn user mistakes into one clear line, not a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig


def run_or_explain(job: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """Run `job(cfg)`; a TrainkitError prints one `Error: ...` line and exits 2.

    HYDRA_FULL_ERROR=1 shows the full traceback instead.
    """
    from trainkit.console import tidy_console
    from trainkit.run import user_error

    tidy_console()
    try:
        return job(cfg)
    except Exception as exc:
        error = user_error(exc)
        if error is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"Error: {error}", file=sys.stderr)
        sys.exit(2)
