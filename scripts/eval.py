"""Evaluate a checkpoint on its test split: `python scripts/eval.py ckpt_path=.../best.ckpt`."""

import hydra
from omegaconf import DictConfig

from trainkit.cli.launch import launch, run_or_explain


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    # imported inside, so that Ctrl-C while torch loads is handled like any other stop
    run_or_explain("trainkit.run.evaluate.evaluate", cfg)


if __name__ == "__main__":
    launch("eval", main, __file__)
