"""Side-by-side speed ratios: trainkit against a hand-written loop and Lightning barebones.

    python scripts/benchmark.py            # the table in benchmarks/README.md
    python scripts/benchmark.py --tiny     # seconds, to check that it runs

Every row is measured in this one run, on the same data, model and seed. A step's time is the
median gap between consecutive batch starts (so epoch ends, validation and start-up are left
out, and one slow step does not move it).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from trainkit.callbacks import ConfusionMatrixLogger, MetricHistory
from trainkit.data.loader import TensorBatchLoader
from trainkit.doctor import TrainingDoctor
from trainkit.nets import MLP, SimpleCNN
from trainkit.tasks import ClassificationTask

REPO = Path(__file__).resolve().parents[1]


class StepClock(L.Callback):
    """Median time between consecutive training-batch starts, after `warmup` steps."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.stamps = warmup, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.stamps.append(time.perf_counter())

    def ms(self) -> float:
        gaps = [b - a for a, b in zip(self.stamps, self.stamps[1:], strict=False)]
        return 1000 * statistics.median(gaps[self.warmup :])


def data(n: int, shape: tuple[int, ...], classes: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randint(0, classes, (n,), generator=g)


def hand_loop(net: nn.Module, x, y, batch: int, steps: int, warmup: int) -> float:
    """Plain PyTorch: shuffle by randperm, index, forward, loss, backward, step."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    times, done = [], 0
    while done < steps + warmup:
        order = torch.randperm(len(x))
        for start in range(0, len(x), batch):
            t = time.perf_counter()
            idx = order[start : start + batch]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t)
            done += 1
    return 1000 * statistics.median(times[warmup:])


class Bare(L.LightningModule):
    """The smallest LightningModule for the same net and loss."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def fit_ms(module, loader, epochs: int, warmup: int, full: bool) -> float:
    """ms/step of Lightning: barebones, or trainkit's own callbacks, metrics and logging."""
    clock = StepClock(warmup)
    kwargs = dict(max_epochs=epochs, accelerator="cpu", devices=1, logger=False)
    if full:
        callbacks = [clock, TrainingDoctor(), MetricHistory(), ConfusionMatrixLogger()]
        trainer = L.Trainer(
            **kwargs, callbacks=callbacks, enable_progress_bar=False,
            enable_model_summary=False, enable_checkpointing=False, limit_val_batches=0,
        )  # fmt: skip
    else:
        trainer = L.Trainer(**kwargs, barebones=True, callbacks=[clock])
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the doctor's report and Lightning's notes: not timed
        trainer.fit(module, train_dataloaders=loader)
    return clock.ms()


def trainkit_task(net: nn.Module, classes: int) -> ClassificationTask:
    return ClassificationTask(
        net, lambda p: torch.optim.Adam(p, lr=1e-3), num_classes=classes, monitor="train/loss"
    )


def iterate_ms(make_batches, rounds: int) -> float:
    """ms per batch of going through an epoch's batches, best of `rounds` epochs."""
    best = float("inf")
    for _ in range(rounds):
        t, n = time.perf_counter(), 0
        for _ in make_batches():
            n += 1
        best = min(best, (time.perf_counter() - t) / n)
    return 1000 * best


def help_seconds(repeats: int) -> float:
    """Best wall time of `python scripts/train.py --help`."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, str(REPO / "scripts" / "train.py"), "--help"],
            check=True,
            capture_output=True,
        )
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a few steps only, to check it runs")
    args = parser.parse_args()
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    batch, epochs, warmup = 64, (2 if args.tiny else 6), (5 if args.tiny else 50)
    n = batch * (20 if args.tiny else 200)
    rows: list[tuple[str, float, str]] = []

    x, y = data(n, (30,), 2)
    mlp = lambda: MLP(30, 2, hidden_sizes=[32])  # noqa: E731 - the same net, fresh each time
    steps = epochs * n // batch - warmup
    hand = hand_loop(mlp(), x, y, batch, steps, warmup)
    loader = TensorBatchLoader(x, y, batch, shuffle=True, seed=0)
    bare = fit_ms(Bare(mlp()), loader, epochs, warmup, full=False)
    ours = fit_ms(trainkit_task(mlp(), 2), loader, epochs, warmup, full=True)
    rows += [
        ("tiny MLP: hand-written loop", hand, "1.00"),
        ("tiny MLP: Lightning barebones", bare, f"{bare / hand:.2f} x hand"),
        ("tiny MLP: trainkit step (metrics, doctor)", ours, f"{ours / bare:.2f} x barebones"),
        ("", float("nan"), f"{ours / hand:.2f} x hand"),
    ]

    rounds = 3 if args.tiny else 20
    raw = iterate_ms(lambda: ((x[i], y[i]) for i in torch.randperm(n).split(batch)), rounds)
    ours_iter = iterate_ms(lambda: iter(loader), rounds)
    per_sample = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True)
    collate = iterate_ms(lambda: iter(per_sample), max(1, rounds // 4))
    rows += [
        ("batches: raw tensor indexing", raw, "1.00"),
        ("batches: TensorBatchLoader", ours_iter, f"{ours_iter / raw:.2f} x raw"),
        ("batches: per-sample DataLoader + collate", collate, f"{collate / raw:.2f} x raw"),
    ]

    xi, yi = data(n, (1, 8, 8), 10)
    cnn = lambda: SimpleCNN(1, 8, 10)  # noqa: E731
    hand_cnn = hand_loop(cnn(), xi, yi, batch, steps, warmup)
    image_loader = TensorBatchLoader(xi, yi, batch, shuffle=True, seed=0)
    ours_cnn = fit_ms(trainkit_task(cnn(), 10), image_loader, epochs, warmup, full=True)
    rows += [
        ("SimpleCNN 1x8x8: hand-written loop", hand_cnn, "1.00"),
        ("SimpleCNN 1x8x8: trainkit step", ours_cnn, f"{ours_cnn / hand_cnn:.2f} x hand"),
    ]

    seconds = help_seconds(1 if args.tiny else 5)
    print(f"device: cpu, {torch.get_num_threads()} threads; torch {torch.__version__}, "
          f"lightning {L.__version__}; batch {batch}, {n} samples")  # fmt: skip
    print("\n| what | ms/step | ratio |\n|---|---:|---|")
    for name, ms, ratio in rows:
        print(f"| {name} | {'' if ms != ms else f'{ms:.3f}'} | {ratio} |")
    print(f"| `python scripts/train.py --help` | {1000 * seconds:.0f} ms wall | |")


if __name__ == "__main__":
    main()
