"""Evaluate a checkpoint on its test split: `python scripts/eval.py ckpt_path=.../best.ckpt`."""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from trainkit.preflight import check_command_line


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    from trainkit.cli import run_or_explain
    from trainkit.evaluate import evaluate

    run_or_explain(evaluate, cfg)


if __name__ == "__main__":
    try:
        check_command_line("eval", sys.argv[1:], Path(__file__).resolve().parent.parent / "conf")
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C before the run took over the signal
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
