"""Train one experiment: `python scripts/train.py +experiment=cnn` (or regression, binary, ...)."""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from trainkit.preflight import check_command_line
from trainkit.resolvers import register

register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> None:
    # Imported here so that `--help` and `--cfg job` answer without loading torch and Lightning.
    from trainkit.cli import run_or_explain
    from trainkit.run import train

    run_or_explain(train, cfg)


if __name__ == "__main__":
    try:
        check_command_line("train", sys.argv[1:], Path(__file__).resolve().parent.parent / "conf")
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C before the run took over the signal
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
