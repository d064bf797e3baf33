"""Side-by-side speed ratios: trainkit against a hand-written loop and Lightning barebones.

    python scripts/benchmark.py            # the table in benchmarks/README.md
    python scripts/benchmark.py --tiny     # seconds, to check that it runs
    python scripts/benchmark.py --gpu      # the GPU table (a CUDA GPU)

Every row is measured in this one run, on the same data, model and seed. A step's time is the
median gap between consecutive batch starts (so epoch ends, validation and start-up are left
out, and one slow step does not move it). The nets and the data are made here (torch.nn and
seeded random arrays), so the script runs in a project whatever its own data and nets are.
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
import numpy as np
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from trainkit.cli.resolvers import register
from trainkit.data.loader import TensorBatchLoader

REPO = Path(__file__).resolve().parents[1]


def tiny_mlp(in_features: int = 30, num_classes: int = 2, hidden: int = 32) -> nn.Module:
    """The "tiny MLP": in_features -> 32 -> num_classes with ReLU, logits out."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
    )


def simple_cnn(
    in_channels: int, image_size: int, num_classes: int, channels: tuple[int, ...] = (32, 64)
) -> nn.Module:
    """3x3 conv -> ReLU -> 2x2 max-pool blocks (32, 64 channels), then a linear head."""
    blocks: list[nn.Module] = []
    width = in_channels
    for out in channels:
        blocks += [nn.Conv2d(width, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        width = out
    side = image_size // 2 ** len(channels)
    return nn.Sequential(*blocks, nn.Flatten(), nn.Linear(width * side * side, num_classes))


class StepClock(L.Callback):
    """Median time between consecutive training-batch starts, after `warmup` steps."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.stamps = warmup, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.stamps.append(time.perf_counter())

    def ms(self) -> float:
        gaps = [b - a for a, b in zip(self.stamps, self.stamps[1:], strict=False)]
        return 1000 * statistics.median(gaps[self.warmup :])


def write_synthetic(path: Path, n: int, shape: tuple[int, ...], classes: int) -> Path:
    """Seeded random inputs and labels saved as X, y in an .npz file, as a user saves theirs."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, *shape, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, X=x.numpy(), y=y.numpy())
    return path


def train_split(cfg: DictConfig) -> tuple[Tensor, Tensor]:
    """The training split's tensors, exactly as the trainkit run gets them (`data=arrays`)."""
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    return datamodule.splits["train"]


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
# the same run without the training doctor: what it costs a step
NO_DOCTOR = [*NO_BAR, "callbacks.doctor=null"]


def trainkit_config(
    data: Path, out: Path, overrides: list[str], accelerator: str = "cpu"
) -> DictConfig:
    """The config `python scripts/train.py data.path=DATA ...` would run, writing into `out`:
    the default `data=arrays` and `model=classification` (its net is given to `trainkit_ms`)."""
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"data.path={data}",
                f"paths.root_dir={out}",
                f"paths.output_dir={out}",
                f"trainer.accelerator={accelerator}",
                "test=false",
                # the split (80 % train) and inputs of the other loops
                "data.val_fraction=0.1",
                "data.test_fraction=0.1",
                "data.standardize=false",
                "model.optimizer.lr=0.001",
                "model.optimizer.weight_decay=0.0",
                *overrides,
            ],
        )


def trainkit_ms(cfg: DictConfig, net: nn.Module, warmup: int) -> float:
    """ms/step of a real trainkit run: the config's data module, task, metrics, callbacks and
    logger, around `net`."""
    from trainkit.compat.lightning import defined_hooks_only
    from trainkit.run.train import build

    datamodule, model, trainer, _ = build(cfg, model=instantiate(cfg.model, net=net))
    clock = StepClock(warmup)
    trainer.callbacks.append(clock)
    with defined_hooks_only(cfg.get("fast_callback_hooks", False)):  # as train() runs it
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


def figure_cost(out: Path, tiny: bool) -> None:
    """The dashboard's figures (confusion matrices, PR curves) over the default cnn run:
    `python scripts/train.py +experiment=cnn` as written (no progress bar), fit and test."""
    from hydra.errors import InstantiationException

    from trainkit.callbacks import Dashboard
    from trainkit.run.train import build, evaluate_best

    if not (REPO / "conf" / "experiment" / "cnn.yaml").is_file():
        print("\n(no figure row: this project has no cnn experiment)")
        return

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "+experiment=cnn",
                f"paths.root_dir={out}",
                f"paths.output_dir={out / 'cnn-run'}",
                *NO_BAR,
                *(["trainer.max_epochs=2"] if tiny else []),
            ],
        )
    try:
        datamodule, model, trainer, _ = build(cfg)
    except InstantiationException as error:  # a project without the examples
        print(f"\n(no figure row: the cnn example does not load here: {error})")
        return
    start = time.perf_counter()
    quietly(lambda: trainer.fit(model, datamodule=datamodule))
    fit_seconds = time.perf_counter() - start
    quietly(lambda: evaluate_best(trainer, model, datamodule))
    dashboard = next(c for c in trainer.callbacks if isinstance(c, Dashboard))
    epochs = trainer.current_epoch
    per_epoch = 1000 * dashboard.figure_seconds / max(epochs, 1)
    print(
        f"\n| default cnn run ({epochs} epochs, {dashboard.figures_logged} confusion-matrix "
        f"logs) | ms/epoch | share of an epoch |\n|---|---:|---|\n"
        f"| figures: confusion matrices (counts, recall) + test | {per_epoch:.2f} | "
        f"{per_epoch / (1000 * fit_seconds / max(epochs, 1)):.2%} of "
        f"{1000 * fit_seconds / max(epochs, 1):.0f} ms |"
    )


def print_table(rows: list[Row]) -> None:
    print("\n| what | ms/step | ratio |\n|---|---:|---|")
    for name, ms, ratio in rows:
        print(f"| {name} | {'' if ms != ms else f'{ms:.3f}'} | {ratio} |")


def cpu_table(out: Path, tiny: bool) -> None:
    """The 2-core table: tiny MLP, batch iterators, a small CNN on 8x8 images, --help."""
    batch, epochs, warmup = 64, (2 if tiny else 6), (5 if tiny else 50)
    n = batch * (20 if tiny else 250)
    rows: list[Row] = []

    def compare(
        label: str, shape: tuple[int, ...], classes: int, make_net: Callable[[], nn.Module]
    ) -> tuple[Tensor, Tensor, dict[str, float]]:
        """The training split, and ms/step of each loop; the variants for the MLP only."""
        data = write_synthetic(out / f"{label}.npz", n, shape, classes)
        common = [f"trainer.max_epochs={epochs}"]
        cfg = trainkit_config(data, out / label, [*common, *NO_BAR])
        x, y = train_split(cfg)
        steps = epochs * len(x) // batch - warmup
        loader = TensorBatchLoader(x, y, batch, shuffle=True, seed=0)
        ms = {
            "hand": hand_loop(make_net(), x, y, batch, steps, warmup),
            "bare": barebones_ms(make_net(), loader, epochs, warmup),
            "ours": trainkit_ms(cfg, make_net(), warmup),
        }
        if label == "mlp":
            with_bar = trainkit_config(data, out / f"{label}-bar", common)
            fast_hooks = ["fast_callback_hooks=true", *NO_BAR]
            defined_only = trainkit_config(data, out / f"{label}-fast", [*common, *fast_hooks])
            no_doctor = trainkit_config(data, out / f"{label}-nodoc", [*common, *NO_DOCTOR])
            ms["bar"] = trainkit_ms(with_bar, make_net(), warmup)
            ms["fast"] = trainkit_ms(defined_only, make_net(), warmup)
            ms["nodoc"] = trainkit_ms(no_doctor, make_net(), warmup)
        return x, y, ms

    x, y, ms = compare("mlp", (30,), 2, tiny_mlp)
    hand, bare, ours, bar, fast = (ms[k] for k in ("hand", "bare", "ours", "bar", "fast"))
    doctor = ms["ours"] - ms["nodoc"]
    rows += [
        ("tiny MLP: hand-written loop", hand, "1.00"),
        ("tiny MLP: Lightning barebones", bare, f"{bare / hand:.2f} x hand"),
        ("tiny MLP: trainkit step", ours, f"{ours / bare:.2f} x barebones"),
        ("", float("nan"), f"{ours / hand:.2f} x hand"),
        ("tiny MLP: trainkit step + progress bar", bar, f"{bar / bare:.2f} x barebones"),
        (
            "tiny MLP: trainkit step, fast_callback_hooks=true",
            fast,
            f"{fast / bare:.2f} x barebones",
        ),
        ("tiny MLP: trainkit step without the doctor", ms["nodoc"], f"doctor {doctor / ours:.1%}"),
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

    _, _, ms = compare("cnn", (1, 8, 8), 10, lambda: simple_cnn(1, 8, 10))
    hand, bare, ours = ms["hand"], ms["bare"], ms["ours"]
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
    figure_cost(out, tiny)


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

    batch = 64
    mlp_data = write_synthetic(out / "mlp.npz", batch * (20 if tiny else 250), (30,), 2)
    cfg = trainkit_config(mlp_data, out / "mlp", [f"trainer.max_epochs={epochs}", *NO_BAR], "gpu")
    x, y = train_split(cfg)
    steps = epochs * len(x) // batch - warmup
    hand = hand_loop(tiny_mlp(), x, y, batch, steps, warmup, "cuda")
    loader = TensorBatchLoader(x, y, batch, shuffle=True, seed=0)
    bare = barebones_ms(tiny_mlp(), loader, epochs, warmup, "gpu")
    ours = trainkit_ms(cfg, tiny_mlp(), warmup)
    rows += [
        ("tiny MLP: hand-written loop", hand, "1.00"),
        ("tiny MLP: Lightning barebones", bare, f"{bare / hand:.2f} x hand"),
        ("tiny MLP: trainkit step", ours, f"{ours / bare:.2f} x barebones"),
        ("", float("nan"), f"{ours / hand:.2f} x hand"),
    ]

    def cnn(batch: int, variants: list[str]) -> None:
        n = batch * (10 if tiny else 40)
        images = write_synthetic(out / f"cnn-{batch}.npz", n, (3, 32, 32), 10)
        make_net = lambda: simple_cnn(3, 32, 10)  # noqa: E731
        fp32_hand = None
        for label in variants:
            precision, channels_last = GPU_VARIANTS[label]
            overrides = [
                f"trainer.max_epochs={epochs}",
                f"trainer.precision={precision}",
                f"model.channels_last={str(channels_last).lower()}",
                f"data.batch_size={batch}",
                *NO_BAR,
            ]
            cfg = trainkit_config(images, out / f"cnn-{len(rows)}", overrides, "gpu")
            x, y = train_split(cfg)
            steps = epochs * len(x) // batch - warmup
            bf16 = precision == "bf16-mixed"
            hand = hand_loop(make_net(), x, y, batch, steps, warmup, "cuda", bf16, channels_last)
            ours = trainkit_ms(cfg, make_net(), warmup)
            fp32_hand = fp32_hand or hand
            what = f"SimpleCNN 3x32x32 batch {batch}, {label}"
            rows.append((f"{what}: hand-written loop", hand, f"{hand / fp32_hand:.2f} x fp32 hand"))
            if not channels_last:  # Bare has no channels_last
                loader = TensorBatchLoader(x, y, batch, shuffle=True, seed=0)
                bare = barebones_ms(make_net(), loader, epochs, warmup, "gpu", precision)
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
    register()  # the config resolvers scripts/train.py registers (sizes read off data.path)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = Path(tempfile.mkdtemp(prefix="trainkit-benchmark-"))
    try:
        (gpu_table if args.gpu else cpu_table)(out, args.tiny)
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
