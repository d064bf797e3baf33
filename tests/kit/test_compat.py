"""The library internals behind trainkit.compat still exist and still mean what the kit needs.

When an upgrade of Lightning or torchmetrics changes one, these tests fail naming the internal
and the adapter function to update; nothing else in the kit touches them.
"""

from __future__ import annotations

import inspect
import re
import warnings

import lightning as L
import torch
from conftest import REPO
from lightning.pytorch.loggers import Logger
from torchmetrics import Metric
from torchmetrics.aggregation import SumMetric

from trainkit.compat import lightning as compat_lightning
from trainkit.compat import torchmetrics as compat_torchmetrics
from trainkit.data.loader import TensorBatchLoader

KIT = REPO / "src" / "trainkit"
# Each internal the adapters touch, as it is spelled where it is used.
INTERNALS = {
    "lightning": [
        "_logger_connector",
        "batch_progress",
        "_should_accumulate",
        '["loops"]',
        "_call_callback_hooks",
        "_current_fx_name",
        "_extract_stats",
    ],
    "torchmetrics": ["_update_count", "_apply", "_defaults"],
    # what the kit used before, with a public way now
    "other": ["_get_file_writer", "._trainer"],
}


def changed(library: str, internal: str, function: str) -> str:
    """The message of a failed check: which internal changed, and which adapter to update."""
    return (
        f"{library} changed {internal}, which trainkit/compat/{library}.py `{function}` uses: "
        f"update that function (and this test) for {library} "
        f"{__import__(library).__version__}."
    )


# -- Lightning -------------------------------------------------------------------------------
class Net(L.LightningModule):
    """Logs its loss every step, so the steps Lightning logs can be seen."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 2)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.layer(x), y)
        self.log("step_loss", loss, on_step=True, on_epoch=False)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Events(Logger):
    """Writes down the steps at which Lightning hands it the per-step loss."""

    def __init__(self, events: list) -> None:
        super().__init__()
        self.events = events

    @property
    def name(self) -> str:
        return "events"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass

    def log_metrics(self, metrics, step=None) -> None:
        if "step_loss" in metrics:
            self.events.append("logged")


class Observe(L.Callback):
    """Asks the adapter about every training batch, as the kit's callbacks do."""

    def __init__(self, events: list) -> None:
        self.events = events

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.events.append(
            (
                batch_idx,
                compat_lightning.logs_this_step(trainer),
                compat_lightning.is_last_batch(trainer),
                compat_lightning.accumulating(trainer),
            )
        )


def test_lightning_internals_are_there():
    from lightning.pytorch.loops.training_epoch_loop import _TrainingEpochLoop
    from lightning.pytorch.trainer.connectors.logger_connector.logger_connector import (
        _LoggerConnector,
    )

    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    connector = getattr(trainer, "_logger_connector", None)
    assert isinstance(connector, _LoggerConnector), changed(
        "lightning", "trainer._logger_connector", "logs_this_step"
    )
    assert isinstance(getattr(_LoggerConnector, "should_update_logs", None), property), changed(
        "lightning", "_LoggerConnector.should_update_logs", "logs_this_step"
    )
    loop = trainer.fit_loop.epoch_loop
    assert isinstance(loop, _TrainingEpochLoop)
    assert isinstance(getattr(loop.batch_progress, "is_last_batch", None), bool), changed(
        "lightning", "fit_loop.epoch_loop.batch_progress.is_last_batch", "is_last_batch"
    )
    should_accumulate = getattr(loop, "_should_accumulate", None)
    assert callable(should_accumulate), changed(
        "lightning", "fit_loop.epoch_loop._should_accumulate", "accumulating"
    )
    assert not inspect.signature(should_accumulate).parameters, changed(
        "lightning", "the arguments of fit_loop.epoch_loop._should_accumulate", "accumulating"
    )


def test_the_learning_rate_monitor_still_extracts_its_stats(tmp_path):
    """trainkit's LearningRateMonitor logs what Lightning's would, at the epoch number."""
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.loggers import CSVLogger

    extract = getattr(LearningRateMonitor, "_extract_stats", None)
    params = list(inspect.signature(extract).parameters) if extract else "no such method"
    assert params == ["self", "trainer", "interval"], changed(
        "lightning", f"LearningRateMonitor._extract_stats (found: {params})", "learning_rate_stats"
    )
    seen = {}

    class Peek(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            seen.update(compat_lightning.learning_rate_stats(monitor, trainer))

    monitor = LearningRateMonitor(logging_interval="epoch")
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    trainer = L.Trainer(
        max_epochs=1, logger=CSVLogger(tmp_path), callbacks=[monitor, Peek()],
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
    )  # fmt: skip
    trainer.fit(Net(), TensorBatchLoader(x, y, batch_size=4))
    assert seen == {"lr-SGD": 0.1}, changed(
        "lightning", f"what LearningRateMonitor._extract_stats returns ({seen})",
        "learning_rate_stats",
    )  # fmt: skip


def test_the_hook_dispatch_can_stand_in_for_lightnings():
    """fast_callback_hooks=true replaces Lightning's hook-calling function for a run; on another
    signature it would silently do nothing. Its equivalence on a real fit: test_speed.py."""
    from lightning.pytorch.trainer import call

    stock = getattr(call, "_call_callback_hooks", None)
    found = list(inspect.signature(stock).parameters) if stock else "no such function"
    assert compat_lightning.hook_dispatch_replaceable(), changed(
        "lightning",
        f"lightning.pytorch.trainer.call._call_callback_hooks (found: {found})",
        "call_defined_hooks",
    )
    with compat_lightning.defined_hooks_only(True):
        assert call._call_callback_hooks is compat_lightning.call_defined_hooks
    assert call._call_callback_hooks is not compat_lightning.call_defined_hooks
    assert "_current_fx_name" in vars(Net()), changed(
        "lightning", "LightningModule._current_fx_name", "call_defined_hooks"
    )


def test_lightning_internals_agree_with_what_lightning_does(tmp_path):
    """On a real fit: the adapter's answers match the batches Lightning logs, the epoch's last
    batch and the batches that only accumulate gradients; the saved loop state has the counts
    `unready_epoch` takes back."""
    events: list = []
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=Events(events),
        log_every_n_steps=2,
        accumulate_grad_batches=2,
        callbacks=[Observe(events), SaveMidEpoch(tmp_path / "mid.ckpt")],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(Net(), TensorBatchLoader(x, y, 4))  # 4 batches an epoch

    batches = [e for e in events if e != "logged"]
    assert [b[0] for b in batches] == [0, 1, 2, 3] * 2
    # Lightning logs a step's values after its last hook, unless the batch only accumulated
    logged = [i + 1 < len(events) and events[i + 1] == "logged" for i, e in enumerate(events)]
    logged = [follows for e, follows in zip(events, logged, strict=True) if e != "logged"]
    assert [b[1] and not b[3] for b in batches] == logged and any(logged), changed(
        "lightning", "_LoggerConnector.should_update_logs (when Lightning logs)", "logs_this_step"
    )
    assert [b[2] for b in batches] == [i == 3 for i in [0, 1, 2, 3] * 2], changed(
        "lightning", "batch_progress.is_last_batch", "is_last_batch"
    )
    assert [b[3] for b in batches] == [i in (0, 2) for i in [0, 1, 2, 3] * 2], changed(
        "lightning", "_should_accumulate", "accumulating"
    )

    trainer.save_checkpoint(tmp_path / "state.ckpt")
    checkpoint = torch.load(tmp_path / "state.ckpt", weights_only=False)
    try:
        progress = checkpoint["loops"]["fit_loop"]["epoch_progress"]
        before = [progress[k]["ready"] for k in ("total", "current")]
    except (KeyError, TypeError) as error:
        raise AssertionError(
            changed(
                "lightning", 'checkpoint["loops"]["fit_loop"]["epoch_progress"]', "unready_epoch"
            )
        ) from error
    assert before == [2, 2], changed(
        "lightning", "the epoch_progress ready counts", "unready_epoch"
    )
    assert not compat_lightning.saved_mid_epoch(checkpoint), changed(
        "lightning", "the epoch_progress counts after an epoch", "saved_mid_epoch"
    )
    compat_lightning.unready_epoch(checkpoint)
    assert [progress[k]["ready"] for k in ("total", "current")] == [1, 1]
    mid = torch.load(tmp_path / "mid.ckpt", weights_only=False)
    assert compat_lightning.saved_mid_epoch(mid), changed(
        "lightning", "the epoch_progress counts inside an epoch", "saved_mid_epoch"
    )


class SaveMidEpoch(L.Callback):
    """Saves a checkpoint after the second batch of the first epoch."""

    def __init__(self, path) -> None:
        self.path = path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.current_epoch == 0 and batch_idx == 1:
            trainer.save_checkpoint(self.path)


# -- torchmetrics ----------------------------------------------------------------------------
class Sums(compat_torchmetrics.PinnedDtypeMetric):
    """A float64 sum and count that must stay float64 under Module.to(dtype)."""

    full_state_update = False
    pinned_dtypes = {"total": torch.float64}

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("plain", torch.zeros(()), dist_reduce_fx="sum")

    def update(self, value: torch.Tensor) -> None:
        self.total.add_(value)
        self.plain.add_(value)

    def compute(self) -> torch.Tensor:
        return self.total


def test_torchmetrics_internals_are_there():
    metric = SumMetric()
    assert isinstance(getattr(metric, "_update_count", None), int), changed(
        "torchmetrics", "Metric._update_count", "mark_updated"
    )
    metric.update(torch.tensor(1.0))
    assert metric._update_count == 1 and metric.update_count == 1, changed(
        "torchmetrics", "Metric._update_count (counting updates)", "mark_updated"
    )
    assert isinstance(getattr(metric, "_defaults", None), dict), changed(
        "torchmetrics", "Metric._defaults", "PinnedDtypeMetric._apply"
    )
    assert set(metric._defaults) == set(metric.metric_state), changed(
        "torchmetrics", "Metric._defaults (one reset value per state)", "PinnedDtypeMetric._apply"
    )
    assert "_apply" in vars(Metric), changed(
        "torchmetrics", "Metric._apply (Metric's own override)", "PinnedDtypeMetric._apply"
    )
    assert next(iter(inspect.signature(Metric._apply).parameters.values())).name == "self"


def test_pinned_states_keep_their_dtype_and_others_follow_the_cast():
    metric = Sums().to(torch.bfloat16)  # what Lightning's bf16-true does to the module
    assert metric.plain.dtype == torch.bfloat16  # torchmetrics casts states: the pin is needed
    assert metric.total.dtype == torch.float64, changed(
        "torchmetrics", "Metric._apply", "PinnedDtypeMetric._apply"
    )
    for _ in range(300):
        metric.update(torch.tensor(1.0))
    assert metric.compute() == 300
    metric.reset()
    assert metric.total.dtype == torch.float64 and metric.total == 0, changed(
        "torchmetrics", "Metric._defaults (the values reset() restores)", "PinnedDtypeMetric._apply"
    )


def test_mark_updated_lets_a_restored_metric_compute_without_warning():
    metric = SumMetric()
    metric.sum_value = torch.tensor(5.0)  # as a resume restores it
    compat_torchmetrics.mark_updated(metric)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = metric.compute()
    assert value == 5 and metric.update_count == 1
    assert not caught, changed("torchmetrics", "Metric._update_count", "mark_updated")


# -- Hydra -----------------------------------------------------------------------------------
def test_hydra_resolves_the_run_directory_before_it_runs(tmp_path, monkeypatch):
    """preflight reads the run directory Hydra will create, `${hydra:runtime.cwd}` included,
    through `resolved_hydra_value`: HydraConfig.instance().set_config and .cfg, as Hydra's
    run_job uses them before it creates the directory."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    from trainkit.compat import hydra as compat_hydra

    instance = HydraConfig.instance()
    assert callable(getattr(instance, "set_config", None)) and hasattr(instance, "cfg"), changed(
        "hydra", "HydraConfig.instance().set_config / .cfg", "resolved_hydra_value"
    )
    monkeypatch.chdir(tmp_path)
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", return_hydra_config=True)
    before = instance.cfg
    run_dir = str(compat_hydra.resolved_hydra_value(cfg, "hydra.run.dir"))
    assert instance.cfg is before  # Hydra's own state is put back
    assert run_dir.startswith(f"{tmp_path}/logs/default/runs/"), changed(
        "hydra", f"how hydra.run.dir resolves (got {run_dir})", "resolved_hydra_value"
    )


# -- nowhere else ----------------------------------------------------------------------------
def test_the_internals_are_used_only_in_the_adapters():
    outside = []
    for path in sorted(KIT.rglob("*.py")):
        if path.parent.name == "compat":
            continue
        text = path.read_text()
        for library, names in INTERNALS.items():
            for name in names:
                if re.search(re.escape(name) + (r"\b" if name[-1].isalnum() else ""), text):
                    outside.append(f"{path.relative_to(REPO)}: {name} ({library})")
    assert not outside, f"use trainkit.compat instead: {outside}"
