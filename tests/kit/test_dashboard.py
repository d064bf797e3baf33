"""The dashboard's switches: histograms and the graph (off by default, and they leave the run
as it would be without them), and the console line of each epoch."""

from __future__ import annotations

import re

from conftest import compose_train, read_summary, run_script
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from trainkit.run.train import train


def events_of(run_dir) -> EventAccumulator:
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"histograms": 0})
    events.Reload()
    return events


def test_histograms_and_graph_are_switches_that_change_nothing_else(tmp_path):
    plain = ["+experiment=tiny_cnn", "trainer.max_epochs=2"]
    switched = [
        *plain,
        "callbacks.dashboard.histograms_every_n_epochs=1",
        "callbacks.dashboard.graph=true",
    ]
    metrics = {}
    for name, overrides in (("plain", plain), ("switched", switched)):
        metrics[name] = train(compose_train(tmp_path / name, overrides))["metrics"]
    # the graph is traced in eval mode on a forked random state: the same run, number for number
    assert metrics["switched"] == metrics["plain"]

    off, on = events_of(tmp_path / "plain"), events_of(tmp_path / "switched")
    assert not off.Tags()["histograms"] and not off.Tags()["graph"]
    assert on.Tags()["graph"]
    histograms = set(on.Tags()["histograms"])
    for kind in ("weights", "gradients"):
        tags = {t for t in histograms if t.startswith(f"{kind}/net.")}
        assert tags, (kind, sorted(histograms))
        assert all([e.step for e in on.Histograms(t)] == [0, 1] for t in tags)


def test_every_other_epoch_gets_histograms(tmp_path):
    overrides = [
        "+experiment=tiny_multiclass",
        "trainer.max_epochs=3",
        "callbacks.dashboard.histograms_every_n_epochs=2",
    ]
    train(compose_train(tmp_path / "run", overrides))
    events = events_of(tmp_path / "run")
    tag = next(t for t in events.Tags()["histograms"] if t.startswith("weights/"))
    assert [e.step for e in events.Histograms(tag)] == [0, 2]


def test_a_line_per_epoch_when_the_output_is_not_a_terminal(tmp_path):
    args = ["+experiment=tiny_binary", "trainer.max_epochs=3"]
    result = run_script("train.py", *args, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-2000:]
    line = re.compile(
        r"^epoch (\d+)/2  train/loss [\d.e+-]+  val/loss [\d.e+-]+  \(best [\d.e+-]+\)  "
        r"lr [\d.e+-]+  [\d.]+ s$"
    )
    epochs = [int(m.group(1)) for m in map(line.match, result.stdout.splitlines()) if m]
    assert epochs == list(range(read_summary(tmp_path / "run")["epochs_completed"]))

    quiet = run_script(
        "train.py", *args, "callbacks.dashboard.console=false", f"hydra.run.dir={tmp_path / 'q'}"
    )
    assert quiet.returncode == 0 and not any(map(line.match, quiet.stdout.splitlines()))
