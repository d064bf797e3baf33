"""Write predictions.csv for a checkpoint: `python scripts/predict.py ckpt_path=.../best.ckpt`."""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from trainkit.preflight import check_command_line


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    from trainkit.cli import run_or_explain
    from trainkit.predict import predict

    run_or_explain(predict, cfg)


if __name__ == "__main__":
    try:
        check_command_line("predict", sys.argv[1:], Path(__file__).resolve().parent.parent / "conf")
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C before the run took over the signal
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
