"""Side-by-side speed ratios: trainkit against a hand-written loop and Lightning barebones.

    python scripts/benchmark.py            # the table in benchmarks/README.md
    python scripts/benchmark.py --tiny     # seconds, to check that it runs
    python scripts/benchmark.py --gpu      # the GPU table (a CUDA GPU)

Every row is measured in this one run, on the same data, model and seed. A step's time is the
median gap between consecutive batch starts (so epoch ends, validation and start-up are left
out, and one slow step does not move it).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from trainkit.data.inmemory import InMemoryDataModule
from trainkit.data.loader import TensorBatchLoader
from my_project.data.sources import ArrayData

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


class Synthetic(InMemoryDataModule):
    """Seeded random inputs and labels, split and served like the bundled data sets."""

    def __init__(self, n: int, shape: tuple[int, ...], classes: int, batch_size: int) -> None:
        super().__init__(batch_size, val_fraction=0.1, test_fraction=0.1, standardize=False)
        self.n, self.shape, self.classes = n, shape, classes

    def load(self) -> ArrayData:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(self.n, *self.shape, generator=g)
        y = torch.randint(0, self.classes, (self.n,), generator=g)
        return ArrayData(x.numpy(), y.numpy(), classification=True)


def synthetic_split(n: int, shape: tuple[int, ...], classes: int, batch: int):
    """A maker of fresh Synthetic data modules, and the training split's tensors."""
    synthetic = lambda: Synthetic(n, shape, classes, batch)  # noqa: E731
    datamodule = synthetic()
    datamodule.setup()
    x, y = datamodule.splits["train"]
    return synthetic, x, y


def hand_loop(
    net: nn.Module,
    x,
    y,
    batch: int,
    steps: int,
    warmup: int,
    device: str = "cpu",
    bf16: bool = False,
    channels_last: bool = False,
) -> float:
    """Plain PyTorch: shuffle by randperm, index, (copy to the device,) forward, loss, backward,
    step. Timed like the Lightning rows: the median gap between consecutive step starts."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(device, memory_format=fmt)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=bf16)
    stamps: list[float] = []
    while len(stamps) < steps + warmup + 1:
        order = torch.randperm(len(x))
        for start in range(0, len(x), batch):
            stamps.append(time.perf_counter())
            idx = order[start : start + batch]
            xb = x[idx].to(device, non_blocking=True).contiguous(memory_format=fmt)
            yb = y[idx].to(device, non_blocking=True)
            with autocast:
                loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return 1000 * statistics.median(gaps[warmup:])


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


def quietly(fit: Callable[[], Any]) -> None:
    """Run `fit` with Lightning's notes, warnings and the doctor's report kept off the table."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        fit()


def barebones_ms(
    net: nn.Module,
    loader: TensorBatchLoader,
    epochs: int,
    warmup: int,
    accelerator: str = "cpu",
    precision: str = "32-true",
) -> float:
    clock = StepClock(warmup)
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
        precision=precision,
        barebones=True,
        callbacks=[clock],
    )
    quietly(lambda: trainer.fit(Bare(net), train_dataloaders=loader))
    return clock.ms()


NO_BAR = ["callbacks.progress_bar=null", "+trainer.enable_progress_bar=false"]


def trainkit_config(
    experiment: str, out: Path, overrides: list[str], accelerator: str = "cpu"
) -> DictConfig:
    """The config `python scripts/train.py +experiment=NAME ...` would run, writing into `out`."""
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"+experiment={experiment}",
                f"paths.root_dir={out}",
                f"paths.output_dir={out}",
                f"trainer.accelerator={accelerator}",
                "test=false",
                "model.net.dropout=0.0",  # the same net as the other loops
                "model.optimizer.lr=0.001",
                "model.optimizer.weight_decay=0.0",
                *overrides,
            ],
        )


def trainkit_ms(cfg: DictConfig, datamodule: Synthetic, warmup: int) -> float:
    """ms/step of a real trainkit run: the config's task, metrics, callbacks and logger."""
    from trainkit.callbacks.dispatch import defined_hooks_only
    from trainkit.run.train import build

    _, model, trainer, _ = build(cfg)
    clock = StepClock(warmup)
    trainer.callbacks.append(clock)
    with defined_hooks_only(cfg.fast_callback_hooks):  # as train() runs it
        quietly(lambda: trainer.fit(model, datamodule=datamodule))
    return clock.ms()


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


Row = tuple[str, float, str]


def print_table(rows: list[Row]) -> None:
    print("\n| what | ms/step | ratio |\n|---|---:|---|")
    for name, ms, ratio in rows:
        print(f"| {name} | {'' if ms != ms else f'{ms:.3f}'} | {ratio} |")


def cpu_table(out: Path, tiny: bool) -> None:
    """The 2-core table: tiny MLP, batch iterators, SimpleCNN on 8x8 digits, --help."""
    batch, epochs, warmup = 64, (2 if tiny else 6), (5 if tiny else 50)
    n = batch * (20 if tiny else 250)
    rows: list[Row] = []

    def compare(label: str, experiment: str, shape: tuple[int, ...], classes: int, data: list):
        common = [f"trainer.max_epochs={epochs}", *data]
        cfg = trainkit_config(experiment, out / label, [*common, *NO_BAR])
        with_bar = trainkit_config(experiment, out / f"{label}-bar", common)
        stock = trainkit_config(
            experiment, out / f"{label}-stock", [*common, *NO_BAR, "fast_callback_hooks=false"]
        )
        fresh = lambda: instantiate(cfg.model.net)  # noqa: E731 - the same net, new weights
        synthetic, x, y = synthetic_split(n, shape, classes, batch)
        steps = epochs * len(x) // batch - warmup
        hand = hand_loop(fresh(), x, y, batch, steps, warmup)
        loader = TensorBatchLoader(x, y, batch, shuffle=True, seed=0)
        bare = barebones_ms(fresh(), loader, epochs, warmup)
        ours = trainkit_ms(cfg, synthetic(), warmup)
        bar = trainkit_ms(with_bar, synthetic(), warmup)
        every_hook = trainkit_ms(stock, synthetic(), warmup)
        return hand, bare, ours, bar, every_hook, x, y

    hand, bare, ours, bar, every_hook, x, y = compare(
        "mlp", "multiclass", (30,), 2, ["data.num_features=30", "data.num_classes=2"]
    )
    rows += [
        ("tiny MLP: hand-written loop", hand, "1.00"),
        ("tiny MLP: Lightning barebones", bare, f"{bare / hand:.2f} x hand"),
        ("tiny MLP: trainkit step", ours, f"{ours / bare:.2f} x barebones"),
        ("", float("nan"), f"{ours / hand:.2f} x hand"),
        ("tiny MLP: trainkit step + progress bar", bar, f"{bar / bare:.2f} x barebones"),
        (
            "tiny MLP: trainkit step, every hook called",
            every_hook,
            f"{every_hook / bare:.2f} x barebones",
        ),
    ]

    rounds = 3 if tiny else 20
    m = len(x)
    raw = iterate_ms(lambda: ((x[i], y[i]) for i in torch.randperm(m).split(batch)), rounds)
    ours_iter = iterate_ms(lambda: iter(TensorBatchLoader(x, y, batch, shuffle=True)), rounds)
    per_sample = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True)
    collate = iterate_ms(lambda: iter(per_sample), max(1, rounds // 4))
    rows += [
        ("batches: raw tensor indexing", raw, "1.00"),
        ("batches: TensorBatchLoader", ours_iter, f"{ours_iter / raw:.2f} x raw"),
        ("batches: per-sample DataLoader + collate", collate, f"{collate / raw:.2f} x raw"),
    ]

    hand, bare, ours, *_ = compare("cnn", "cnn", (1, 8, 8), 10, [])
    rows += [
        ("SimpleCNN 1x8x8: hand-written loop", hand, "1.00"),
        ("SimpleCNN 1x8x8: Lightning barebones", bare, f"{bare / hand:.2f} x hand"),
        ("SimpleCNN 1x8x8: trainkit step", ours, f"{ours / hand:.2f} x hand"),
    ]

    seconds = help_seconds(1 if tiny else 5)
    print(f"device: cpu, {torch.get_num_threads()} threads; torch {torch.__version__}, "
          f"lightning {L.__version__}; batch {batch}, {len(x)} training samples")  # fmt: skip
    print_table(rows)
    print(f"| `python scripts/train.py --help` | {1000 * seconds:.0f} ms wall | |")


# SimpleCNN on CIFAR-10-shaped images: (precision, channels_last) variants of the same run.
GPU_VARIANTS = {
    "fp32": ("32-true", False),
    "channels_last": ("32-true", True),
    "bf16-mixed": ("bf16-mixed", False),
    "bf16-mixed + channels_last": ("bf16-mixed", True),
}


def gpu_table(out: Path, tiny: bool) -> None:
    """The GPU table: the tiny MLP (launch-bound), and SimpleCNN on 3x32x32 at batch 256 in
    fp32, channels_last and bf16-mixed (and at batch 2048 in fp32 and bf16 + channels_last),
    each against a hand-written loop doing the same."""
    epochs, warmup = (2 if tiny else 5), (5 if tiny else 50)
    rows: list[Row] = []

    def data(n: int, shape: tuple[int, ...], classes: int, batch: int):
        synthetic, x, y = synthetic_split(n, shape, classes, batch)
        return synthetic, x, y, epochs * len(x) // batch - warmup

    batch = 64
    mlp_overrides = [f"trainer.max_epochs={epochs}", "data.num_features=30", "data.num_classes=2"]
    cfg = trainkit_config("multiclass", out / "mlp", [*mlp_overrides, *NO_BAR], "gpu")
    synthetic, x, y, steps = data(batch * (20 if tiny else 250), (30,), 2, batch)
    fresh = lambda: instantiate(cfg.model.net)  # noqa: E731
    hand = hand_loop(fresh(), x, y, batch, steps, warmup, "cuda")
    loader = TensorBatchLoader(x, y, batch, shuffle=True, seed=0)
    bare = barebones_ms(fresh(), loader, epochs, warmup, "gpu")
    ours = trainkit_ms(cfg, synthetic(), warmup)
    rows += [
        ("tiny MLP: hand-written loop", hand, "1.00"),
        ("tiny MLP: Lightning barebones", bare, f"{bare / hand:.2f} x hand"),
        ("tiny MLP: trainkit step", ours, f"{ours / bare:.2f} x barebones"),
        ("", float("nan"), f"{ours / hand:.2f} x hand"),
    ]

    def cnn(batch: int, variants: list[str]) -> None:
        shape = (3, 32, 32)
        synthetic, x, y, steps = data(batch * (10 if tiny else 40), shape, 10, batch)
        sizes = ["model.net.in_channels=3", "model.net.image_size=32", "data.num_classes=10"]
        fp32_hand = None
        for label in variants:
            precision, channels_last = GPU_VARIANTS[label]
            overrides = [
                f"trainer.max_epochs={epochs}",
                f"trainer.precision={precision}",
                f"model.channels_last={str(channels_last).lower()}",
                *sizes,
                *NO_BAR,
            ]
            cfg = trainkit_config("cnn", out / f"cnn-{len(rows)}", overrides, "gpu")
            bf16 = precision == "bf16-mixed"
            net = instantiate(cfg.model.net)
            hand = hand_loop(net, x, y, batch, steps, warmup, "cuda", bf16, channels_last)
            ours = trainkit_ms(cfg, synthetic(), warmup)
            fp32_hand = fp32_hand or hand
            what = f"SimpleCNN 3x32x32 batch {batch}, {label}"
            rows.append((f"{what}: hand-written loop", hand, f"{hand / fp32_hand:.2f} x fp32 hand"))
            if not channels_last:  # Bare has no channels_last
                loader = TensorBatchLoader(x, y, batch, shuffle=True, seed=0)
                net = instantiate(cfg.model.net)
                bare = barebones_ms(net, loader, epochs, warmup, "gpu", precision)
                rows.append((f"{what}: Lightning barebones", bare, f"{bare / hand:.2f} x hand"))
            rows.append((f"{what}: trainkit step", ours, f"{ours / hand:.2f} x hand"))

    cnn(256, list(GPU_VARIANTS))
    cnn(2048, ["fp32", "bf16-mixed + channels_last"])

    name = torch.cuda.get_device_name()
    print(f"device: {name}; torch {torch.__version__}, lightning {L.__version__}; "
          f"MLP batch 64, CNN 32 training batches per epoch")  # fmt: skip
    print_table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a few steps only, to check it runs")
    parser.add_argument(
        "--gpu", action="store_true", help="the GPU table (SimpleCNN in fp32, bf16, channels_last)"
    )
    args = parser.parse_args()
    if args.gpu and not torch.cuda.is_available():
        parser.error("--gpu needs a CUDA GPU, and torch sees none (torch.cuda.is_available())")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = Path(tempfile.mkdtemp(prefix="trainkit-benchmark-"))
    try:
        (gpu_table if args.gpu else cpu_table)(out, args.tiny)
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
