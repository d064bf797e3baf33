"""Sweeps through the real script: grids, Optuna, submitit jobs, and the ranked sweep summary."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import pytest
from conftest import QUIET, TESTS, check_search, read_summary, run_script
from omegaconf import OmegaConf

from trainkit.errors import TrainkitError
from trainkit.sweep import SweepSummary, objective, sweep_target
from trainkit.sweep.summary import write_sweep_summary

# Two short epochs on few batches: enough for different learning rates to rank apart.
SHORT = ["trainer.max_epochs=2", "data.batch_size=128", *QUIET]


def ranked_rows(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "sweep_summary.csv", newline="") as f:
        return list(csv.DictReader(f))


def markdown_jobs(sweep_dir: Path) -> list[str]:
    """The job column of sweep_summary.md's table, top to bottom."""
    lines = (sweep_dir / "sweep_summary.md").read_text().splitlines()
    rows = [line.split("|")[1:-1] for line in lines if line.startswith("| ")]
    header = [c.strip() for c in rows[0]]
    return [r[header.index("job")].strip() for r in rows[1:]]


def test_grid_ranks_jobs_best_first_and_a_failed_job_last(tmp_path):
    sweep = tmp_path / "grid"
    result = run_script(
        "train.py",
        "-m",
        "+experiment=tiny_binary",
        "model.optimizer.lr=0.0001,0.01,-1",
        *SHORT,
        f"hydra.sweep.dir={sweep}",
    )
    # the job with lr=-1 fails; the others still run, and the sweep exits 1 after the summary
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Error: model.optimizer.lr must be a number above 0" in result.stderr
    summaries = {n: read_summary(sweep / str(n)) for n in range(3)}
    assert [summaries[n]["status"] for n in range(3)] == ["completed", "completed", "failed"]

    losses = {n: summaries[n]["metrics"]["val/loss"] for n in (0, 1)}
    best_first = sorted(losses, key=losses.get)
    assert best_first == [1, 0]  # lr=0.01 beats lr=0.0001: the ranking really reorders the jobs
    rows = ranked_rows(sweep)
    assert [r["job"] for r in rows] == ["1", "0", "2"]
    assert markdown_jobs(sweep) == ["1", "0", "2"]
    for row, lr in zip(rows, ("0.01", "0.0001", "-1"), strict=True):
        assert row["overrides"] == f"model.optimizer.lr={lr}"  # what varies, not +experiment
        assert row["subdir"] == row["job"]
    for row in rows[:2]:
        job = summaries[int(row["job"])]
        assert row["status"] == "completed"
        assert float(row["val/loss"]) == job["metrics"]["val/loss"]
        assert float(row["test/acc"]) == job["metrics"]["test/acc"]
    assert rows[2]["status"] == "failed" and rows[2]["val/loss"] == ""
    assert f"best: job 1 ({sweep / '1'}), val/loss=" in result.stdout
    assert "1 did not complete" in result.stdout
    # each job's TensorBoard run is named after what sets it apart
    assert curves_folder(sweep / "0") == "lr=0.0001" and curves_folder(sweep / "1") == "lr=0.01"

    # resumed in place (e.g. after a time limit), a job's curves go on in the same run
    more = ["trainer.max_epochs=3", "data.batch_size=128", *QUIET]
    last = sweep / "1" / "checkpoints" / "last.ckpt"
    resumed = run_script("train.py", "+experiment=tiny_binary", "model.optimizer.lr=0.01",
                         *more, f"ckpt_path={last}")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert curves_folder(sweep / "1") == "lr=0.01"
    assert read_summary(sweep / "1")["epochs_completed"] == 3


def curves_folder(job: Path) -> str:
    """The one folder below JOB/tensorboard with curves (the HPARAMS row's `best` left out)."""
    folders = {
        p.parent.relative_to(job / "tensorboard").as_posix()
        for p in (job / "tensorboard").rglob("events.out.tfevents.*")
        if p.parent.name != "best"
    }
    assert len(folders) == 1, folders
    return folders.pop()


def test_submitit_local_runs_every_job_as_its_own_process(tmp_path):
    sweep = tmp_path / "submitit"
    result = run_script(
        "train.py",
        "-m",
        "+experiment=tiny_multiclass",
        "seed=1,2",
        "hydra/launcher=submitit_local",
        *SHORT,
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = {n: read_summary(sweep / str(n)) for n in (0, 1)}
    for n, summary in summaries.items():
        assert summary["status"] == "completed" and summary["seed"] == n + 1
    # each job ran in a submitit process of its own, which logged to a folder of its own
    logs = [p.read_text() for p in (sweep / ".submitit").glob("*/*_log.out")]
    assert len(logs) == 2 and all("submitit INFO" in log for log in logs)
    jobs_seen = sorted(n for log in logs for n in (0, 1) if f"{sweep / str(n)}{os.sep}" in log)
    assert jobs_seen == [0, 1]
    rows = ranked_rows(sweep)
    expected = sorted((0, 1), key=lambda n: summaries[n]["metrics"]["val/loss"])
    assert [r["job"] for r in rows] == [str(n) for n in expected]
    assert [r["overrides"] for r in rows] == [f"seed={n + 1}" for n in expected]
    assert [float(r["val/loss"]) for r in rows] == [
        summaries[n]["metrics"]["val/loss"] for n in expected
    ]
    assert markdown_jobs(sweep) == [str(n) for n in expected]


def test_optuna_search_reports_the_best_trial(tmp_path):
    sweep = tmp_path / "search"
    # no -m: the search config makes itself a sweep (hydra.mode=MULTIRUN)
    result = run_script(
        "train.py",
        "+experiment=tiny_binary",
        "hparams_search=tiny_optuna",
        "hydra.sweeper.n_trials=3",
        "trainer.max_epochs=1",
        *QUIET,
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    best = OmegaConf.to_container(OmegaConf.load(sweep / "optimization_results.yaml"))
    rows = ranked_rows(sweep)
    assert len(rows) == 3 and all(r["status"] == "completed" for r in rows)
    losses = [float(r["val/loss"]) for r in rows]
    assert losses == sorted(losses) and len(set(losses)) == 3
    assert losses[0] == best["best_value"]
    # the best row's settings are the ones Optuna reports, and only the searched keys vary
    settings = dict(o.split("=", 1) for o in rows[0]["overrides"].split())
    assert settings == {k: str(v) for k, v in best["best_params"].items()}
    assert set(settings) == {
        "model.optimizer.lr",
        "model.optimizer.weight_decay",
        "model.net.hidden",
        "model.net.dropout",
        "data.batch_size",
    }
    for row in rows:  # each trial trained with the settings it was given
        job = sweep / row["job"]
        named = dict(part.split("=", 1) for part in curves_folder(job).split(","))
        assert set(named) == {"lr", "weight_decay", "hidden", "dropout", "batch_size"}, named
        config = OmegaConf.load(job / ".hydra" / "config.yaml")
        lr = float(dict(o.split("=", 1) for o in row["overrides"].split())["model.optimizer.lr"])
        assert config.model.optimizer.lr == lr and 1e-4 <= lr <= 0.03
        assert read_summary(job)["metrics"]["val/loss"] == float(row["val/loss"])


def test_slurm_launcher_asks_for_the_trainers_layout(tmp_path, monkeypatch):
    # No cluster here: a stand-in sbatch keeps the job script it is given, then refuses (submitit
    # also looks for srun before it submits).
    bin_dir, script = tmp_path / "bin", tmp_path / "job.sh"
    bin_dir.mkdir()
    stand_ins = {
        "sbatch": f'cp "$1" "{script}"\necho "no cluster here" >&2\nexit 1',
        "srun": "exit 1",
    }
    for name, body in stand_ins.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = run_script(
        "train.py",
        "-m",
        "+experiment=tiny_cnn",
        "hydra/launcher=slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.account=lab",
        "trainer=ddp",
        "trainer.devices=4",
        "trainer.num_nodes=2",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )
    assert result.returncode != 0 and "no cluster here" in result.stderr
    lines = set(script.read_text().splitlines())
    for flag in (
        "--nodes=2",
        "--ntasks-per-node=4",  # one task per device: what Lightning's SLURMEnvironment expects
        "--gpus-per-node=4",
        "--partition=gpu",
        "--account=lab",
        "--time=240",
        "--signal=TERM@120",  # the run's own SIGTERM handling saves last.ckpt before the limit
    ):
        assert f"#SBATCH {flag}" in lines, flag
    assert any(
        line.startswith(f"#SBATCH --output={tmp_path / 'sweep'}/.submitit/") for line in lines
    )


def test_sweep_mistakes_are_one_line(tmp_path):
    typo = run_script(
        "train.py", "+experiment=tiny_binary", "hparams_search=tiny_optna", cwd=tmp_path
    )
    assert typo.returncode == 2
    assert "Unknown hparams_search config 'tiny_optna'. Did you mean tiny_optuna?" in typo.stderr
    backwards = run_script(
        "train.py",
        "-m",
        "+experiment=tiny_binary",
        "seed=1,2",
        "optimized_metric=val/acc",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )
    assert backwards.returncode == 2
    assert backwards.stderr.strip().splitlines()[-1] == (
        "Error: val/acc is better when higher, but optimized_mode=min: "
        "add optimized_mode=max to the command line."
    )
    # Lightning's local DDP reruns the command line per device: a sweep would run twice over
    local_ddp = run_script(
        "train.py", "-m", "+experiment=tiny_binary", "trainer=ddp_cpu", "seed=1,2", cwd=tmp_path
    )
    assert local_ddp.returncode == 2
    assert "A sweep of DDP runs needs hydra/launcher=slurm" in local_ddp.stderr
    all_gpus = run_script(
        "train.py",
        "-m",
        "+experiment=tiny_cnn",
        "trainer=ddp",
        "hydra/launcher=slurm",
        cwd=tmp_path,
    )
    assert all_gpus.returncode == 2
    assert "tasks_per_node is -1" in all_gpus.stderr and "trainer.devices=4" in all_gpus.stderr
    assert not (tmp_path / "sweep").exists() and not (tmp_path / "logs").exists()


# Which experiments each test search config is written for (the comment at the top of each file).
TEST_SEARCHES = TESTS / "conf" / "hparams_search"
SEARCHES = {"tiny_optuna": ("tiny_binary", "tiny_multiclass")}


@pytest.mark.parametrize("search", sorted(p.stem for p in TEST_SEARCHES.glob("*.yaml")))
def test_every_searched_key_exists_in_its_experiments(tmp_path, search):
    for experiment in SEARCHES[search]:
        check_search(TEST_SEARCHES / f"{search}.yaml", experiment, tmp_path / experiment / "run")


def fake_job(sweep: Path, num: int, task: list[str], summary: dict | None) -> None:
    """A job directory as Hydra and train() leave it (no summary: the job died early)."""
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(
        {"hydra": {"job": {"num": num}, "overrides": {"task": task}}}, job / ".hydra" / "hydra.yaml"
    )
    if summary is not None:
        (job / "summary.json").write_text(json.dumps(summary))


def completed(loss: float | None, acc: float, codes: tuple[str, ...] = ()) -> dict:
    diagnostics = [{"code": c, "severity": "warning"} for c in codes]
    metrics = {"val/loss": loss, "val/acc": acc, "train/loss": 0.1}
    return {"status": "completed", "metrics": metrics, "diagnostics": diagnostics}


def test_ranking_puts_failed_missing_and_nan_jobs_last(tmp_path):
    sweep = tmp_path / "sweep"
    shared = ["+experiment=tiny_binary"]
    fake_job(sweep, 0, [*shared, "lr=0.1"], completed(0.5, 0.8))
    fake_job(sweep, 1, [*shared, "lr=0.2"], completed(None, 0.5))  # diverged: null in summary.json
    fake_job(sweep, 2, [*shared, "lr=0.3"], {"status": "failed", "metrics": {}, "error": "x"})
    fake_job(sweep, 3, [*shared, "lr=0.4"], None)
    fake_job(sweep, 4, [*shared, "lr=0.5"], completed(0.2, 0.9, ("overfitting",)))
    (sweep / ".submitit" / "7").mkdir(parents=True)  # submitit's logs are no job
    (sweep / ".submitit" / "7" / "7_0_log.out").write_text("log")

    rows = write_sweep_summary(sweep, {"+experiment"}, "val/loss", "min")
    assert [(r.num, r.status) for r in rows] == [
        (4, "completed"), (0, "completed"), (1, "completed"), (2, "failed"), (3, "missing")
    ]  # fmt: skip
    table = ranked_rows(sweep)
    assert [r["job"] for r in table] == ["4", "0", "1", "2", "3"]
    assert list(table[0])[:6] == ["rank", "job", "subdir", "status", "val/loss", "val/acc"]
    assert "train/loss" not in table[0]
    assert [r["val/loss"] for r in table] == ["0.2", "0.5", "nan", "", ""]
    assert [r["overrides"] for r in table] == ["lr=0.5", "lr=0.1", "lr=0.2", "lr=0.3", "lr=0.4"]
    assert table[0]["diagnostics"] == "overfitting"
    assert markdown_jobs(sweep) == ["4", "0", "1", "2", "3"]

    by_acc = write_sweep_summary(sweep, set(), "val/acc", "max")
    assert [r.num for r in by_acc] == [4, 0, 1, 2, 3]
    assert by_acc[0].overrides == ["+experiment=tiny_binary", "lr=0.5"]
    by_acc_min = write_sweep_summary(sweep, set(), "val/acc", "min")
    assert [r.num for r in by_acc_min] == [1, 0, 4, 2, 3]


def test_summary_callback_writes_then_exits_1_when_a_job_did_not_complete(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    fake_job(sweep, 0, ["lr=0.1"], completed(0.3, 0.8))
    fake_job(sweep, 1, ["lr=0.2"], None)
    config = OmegaConf.create(
        {
            "optimized_metric": "val/loss",
            "optimized_mode": "min",
            "hydra": {"sweep": {"dir": str(sweep)}, "overrides": {"task": ["lr=0.1,0.2"]}},
        }
    )
    with pytest.raises(SystemExit) as stop:
        SweepSummary().on_multirun_end(config=config)
    assert stop.value.code == 1
    assert [r["status"] for r in ranked_rows(sweep)] == ["completed", "missing"]
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"Sweep summary: {sweep / 'sweep_summary.md'} (and .csv), 2 jobs")
    assert f"best: job 0 ({sweep / '0'}), val/loss=0.3 with lr=0.1. 1 did not complete" in line


def test_objective_gives_a_sweeper_a_number_it_can_rank():
    assert objective(completed(0.25, 0.9), "val/loss", "min", strict=True) == 0.25
    assert objective(completed(0.25, 0.9), "val/acc", "max", strict=True) == 0.9
    assert objective(completed(None, 0.9), "val/loss", "min", strict=True) == math.inf
    assert objective({"status": "failed", "metrics": {}}, "val/acc", "max", True) == -math.inf
    assert objective(None, "val/loss", "min", strict=True) == math.inf
    with pytest.raises(TrainkitError, match="val/accuracy is not a metric of this run"):
        objective(completed(0.25, 0.9), "val/accuracy", "max", strict=True)
    assert objective(completed(0.25, 0.9), "val/accuracy", "max", strict=False) == -math.inf


def test_sweep_target_refuses_a_backwards_direction():
    target = OmegaConf.create({"optimized_metric": "test/r2", "optimized_mode": "max"})
    assert sweep_target(target) == ("test/r2", "max")
    custom = OmegaConf.create({"optimized_metric": "val/auroc", "optimized_mode": "max"})
    assert sweep_target(custom) == ("val/auroc", "max")  # unknown names: the user's word
    with pytest.raises(TrainkitError, match="val/mae is better when lower"):
        sweep_target(OmegaConf.create({"optimized_metric": "val/mae", "optimized_mode": "max"}))
    with pytest.raises(TrainkitError, match="optimized_mode must be min or max"):
        sweep_target(OmegaConf.create({"optimized_mode": "down"}))
