"""Train one experiment: `python scripts/train.py +experiment=NAME` (see conf/experiment/)."""

import hydra
from omegaconf import DictConfig

from trainkit.cli.launch import launch  # importing trainkit registers its config resolvers


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Train; return `optimized_metric` of the run for a sweeper (Optuna) to read."""
    # Imported when it runs, so that `--help` and `--cfg job` answer without loading torch and
    # Lightning, and Ctrl-C while they load still leaves the run directory its summary.json.
    from trainkit.cli.jobs import run_job

    return run_job("trainkit.run.train.train", cfg)


if __name__ == "__main__":
    launch("train", main, __file__)
