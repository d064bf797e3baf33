"""DDP on the CPU (trainer=ddp_cpu: 2 processes, gloo) reports the metrics one process computes
for the same weights, and leaves exactly one run directory behind."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from conftest import QUIET, read_summary, run_script
from hydra.utils import instantiate

from trainkit.checkpoints.files import load_checkpoint
from trainkit.data.loader import TensorBatchLoader
from trainkit.run.evaluate import restore_model, training_config

# 45 validation and 45 test rows: 23 for one process and 22 for the other, in 2 batches and 1,
# so any padding or double counting would show in the metrics.
SPLITS = ["data.val_fraction=0.25", "data.test_fraction=0.25", "data.eval_batch_size=22"]


def test_loader_shards_cover_every_row_once_and_train_shards_are_even():
    x, y = torch.arange(45).float()[:, None], torch.arange(45)
    for world in (2, 3, 4):
        seen = torch.cat(
            [
                torch.cat([b for _, b in TensorBatchLoader(x, y, 4, rank=r, world_size=world)])
                for r in range(world)
            ]
        )
        assert sorted(seen.tolist()) == list(range(45))
        train = [
            TensorBatchLoader(x, y, 4, shuffle=True, rank=r, world_size=world, even=True)
            for r in range(world)
        ]
        assert len({len(loader) for loader in train}) == 1  # the same number of steps
        rows = torch.cat([torch.cat([b for _, b in loader]) for loader in train])
        assert len(rows) == world * math.ceil(45 / world) and set(rows.tolist()) == set(range(45))
    # a split smaller than the padding: every process still gets its one step
    tiny = [TensorBatchLoader(x[:3], y[:3], 4, rank=r, world_size=8, even=True) for r in range(8)]
    assert [len(list(loader)) for loader in tiny] == [len(loader) for loader in tiny] == [1] * 8


def test_two_process_run_reports_one_process_metrics(tmp_path):
    run_dir = tmp_path / "run"
    result = run_script(
        "train.py",
        "+experiment=tiny_multiclass",
        "trainer=ddp_cpu",
        "trainer.max_epochs=3",
        "data.batch_size=16",
        *SPLITS,
        *QUIET,
        f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Starting with 2 processes" in result.stdout + result.stderr

    # one run directory, one summary.json, TensorBoard events from one process, one .hydra
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    assert len(list(tmp_path.rglob("summary.json"))) == 1
    events = list(tmp_path.rglob("events.out.tfevents.*"))  # *.<host>.<pid>.<n>
    assert events and len({p.name.split(".")[-2] for p in events}) == 1
    assert [p.relative_to(run_dir) for p in tmp_path.rglob(".*") if p.is_dir()] == [
        run_dir.joinpath(".hydra").relative_to(run_dir)
    ]
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["data"]["sizes"]["val"] == 45

    # The same weights, evaluated by one process on the whole splits.
    path = run_dir / summary["best_checkpoint"]
    checkpoint = load_checkpoint(path)
    train_cfg = training_config(path, checkpoint)
    model = restore_model(train_cfg, checkpoint, path)
    datamodule = instantiate(train_cfg.data)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    single = {**trainer.validate(model, datamodule=datamodule, verbose=False)[0]}
    single.update(trainer.test(model, datamodule=datamodule, verbose=False)[0])

    metrics = summary["metrics"]
    expected = {k for k in single if k.split("/")[0] in ("val", "test")}
    assert {"val/loss", "val/acc", "test/loss", "test/f1"} <= expected <= set(metrics)
    for key in sorted(expected):
        assert metrics[key] == pytest.approx(single[key], abs=1e-6), key

    # eval.py and predict.py take the trainer group too: two processes test, one writes
    evaluated = run_script(
        "eval.py", f"ckpt_path={path}", "trainer=ddp_cpu", f"hydra.run.dir={tmp_path / 'eval'}"
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "Starting with 2 processes" in evaluated.stdout + evaluated.stderr
    eval_summary = read_summary(tmp_path / "eval")
    assert eval_summary["status"] == "completed"
    for key in sorted(k for k in expected if k.startswith("test/")):
        assert eval_summary["metrics"][key] == pytest.approx(single[key], abs=1e-6), key
    assert not list((tmp_path / "eval").glob("*.tmp"))
    predicted = run_script(
        "predict.py", f"ckpt_path={path}", "trainer=ddp_cpu", f"hydra.run.dir={tmp_path / 'p'}"
    )
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    rows = (tmp_path / "p" / "predictions.csv").read_text().splitlines()
    assert len(rows) == 1 + summary["data"]["sizes"]["test"]
