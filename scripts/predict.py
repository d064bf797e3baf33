"""Write predictions.csv for a checkpoint: `python scripts/predict.py ckpt_path=.../best.ckpt`."""

import hydra
from omegaconf import DictConfig

from trainkit.cli.launch import launch, run_or_explain


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    # imported inside, so that Ctrl-C while torch loads is handled like any other stop
    run_or_explain("trainkit.run.predict.predict", cfg)


if __name__ == "__main__":
    launch("predict", main, __file__)
