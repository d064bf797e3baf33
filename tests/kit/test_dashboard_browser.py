"""What a reviewer sees in TensorBoard after one run and a sweep, read from the page that the
real `tensorboard` serves to headless Chromium: the HPARAMS table, the Time Series cards and the
Custom Scalars charts.

One logdir, as `tensorboard --logdir logs` shows it: a tiny_binary run and a three-job sweep over
the learning rate. Screenshots of each dashboard go to test-output/screenshots/ (or
$TRAINKIT_SCREENSHOTS). Without playwright or Chromium the tests are skipped (see tests/browser.py).
"""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser import (
    Card,
    Chart,
    HParamsGrid,
    active_plugins,
    browser_page,
    custom_scalar_charts,
    hparams_grid,
    hparams_pane,
    hparams_tick,
    open_dashboard,
    screenshot,
    timeseries_card_list,
    timeseries_expanded,
    timeseries_groups,
)
from conftest import read_summary, run_script
from tensorboard_server import LOCAL, running_tensorboard
from test_sweep import SHORT
from test_tensorboard_server import event_runs

pytestmark = pytest.mark.slow

SWEPT = "model.optimizer.lr"
LEARNING_RATES = ("0.01", "0.001", "0.0001")
RUNS = 1 + len(LEARNING_RATES)
# TensorBoard shows the first five metric columns (test/* sort first); the best epoch's val/*
# are a tick away in the left pane
SHOWN_METRIC = "test/loss"
TICKED_METRIC = "val/loss"
MAX_HPARAMS = 20


@dataclass(repr=False)
class Served:
    """What TensorBoard's hparams plugin answers over HTTP (the API its dashboard reads)."""

    experiment: dict
    groups: list[dict]


@dataclass(repr=False)
class Seen:
    """Everything the tests look at, read once from the three dashboards."""

    grid: HParamsGrid
    pane: dict[str, dict[str, bool]]
    ticked_grid: HParamsGrid  # after ticking TICKED_METRIC
    served: Served
    plugins: list[str]
    groups: list[str]
    expanded: list[str]
    cards: list[Card]
    charts: list[Chart]

    def __repr__(self) -> str:  # the tests' messages say what was seen
        return "<what TensorBoard showed>"

    @property
    def trial_ids(self) -> list[str]:
        return [row[0] for row in self.grid.rows]

    def ticked(self, kind: str) -> list[str]:
        """The hyperparameters ("hparams") or "metrics" ticked in HPARAMS' left pane."""
        return [name for name, ticked in self.pane[kind].items() if ticked]


SESSION_GROUPS = {
    "experimentName": "",
    "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
    "colParams": [],
    "startIndex": 0,
    "sliceSize": 100,
}


def post_json(url: str, route: str, body: dict) -> dict:
    request = urllib.request.Request(
        url + route, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with LOCAL.open(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def chromium_page():
    """First of all, so that a missing browser skips before anything trains."""
    with browser_page() as page:
        yield page


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    """A run and a sweep, side by side (the sweep's jobs one after another), in one logdir."""
    logs = tmp_path_factory.mktemp("dashboard") / "logs"
    common = ["+experiment=tiny_binary", f"paths.log_dir={logs}", *SHORT]
    with ThreadPoolExecutor(max_workers=2) as pool:
        single = pool.submit(run_script, "train.py", *common)
        sweep = pool.submit(
            run_script, "train.py", "-m", *common, f"{SWEPT}={','.join(LEARNING_RATES)}"
        )
        results = [single.result(), sweep.result()]
    for result in results:
        assert result.returncode == 0, result.stdout[-1000:] + result.stderr[-3000:]
    return logs


@pytest.fixture(scope="module")
def seen(chromium_page, logdir, tmp_path_factory) -> Seen:
    page = chromium_page
    runs = event_runs(logdir)
    with running_tensorboard(logdir, tmp_path_factory.mktemp("tensorboard")) as tb:
        # every run loaded before the page asks: TensorBoard serves while it reads the logdir
        tb.poll_json(
            "/data/plugin/scalars/tags",
            lambda tags: set(tags) >= runs and all(tags[run] for run in runs),
        )
        served = Served(
            post_json(tb.url, "/data/plugin/hparams/experiment", {"experimentName": ""}),
            post_json(tb.url, "/data/plugin/hparams/session_groups", SESSION_GROUPS)[
                "sessionGroups"
            ],
        )
        open_dashboard(page, tb.url, "hparams")
        screenshot(page, "hparams_table")
        grid, pane = hparams_grid(page), hparams_pane(page)
        ticked_grid = hparams_tick(page, TICKED_METRIC)
        screenshot(page, "hparams_table_val")

        open_dashboard(page, tb.url, "timeseries")
        screenshot(page, "time_series")
        plugins = active_plugins(page)
        groups, expanded = timeseries_groups(page), timeseries_expanded(page)
        cards = timeseries_card_list(page)

        open_dashboard(page, tb.url, "custom_scalars")
        screenshot(page, "custom_scalars")
        charts = custom_scalar_charts(page)
    return Seen(grid, pane, ticked_grid, served, plugins, groups, expanded, cards, charts)


# -- HPARAMS -------------------------------------------------------------------------------------
def test_hparams_table_has_the_swept_key(seen):
    headers = seen.grid.headers
    assert SWEPT in headers, f"HPARAMS table columns: {headers}"


def test_hparams_table_has_the_metric_columns(seen):
    headers, metrics = seen.grid.headers, list(seen.pane["metrics"])
    assert SHOWN_METRIC in headers, f"HPARAMS table columns: {headers}; metrics: {metrics}"
    # the best epoch's validation metrics are all there, one tick away
    assert {"val/loss", "val/acc", "test/acc"} <= set(metrics), metrics
    assert not [m for m in metrics if m.startswith("hparams/")], metrics
    ticked = seen.ticked_grid
    assert TICKED_METRIC in ticked.headers, f"after ticking: {ticked.headers}"
    column = ticked.headers.index(TICKED_METRIC)
    assert all(row[column] for row in ticked.rows), ticked.rows


def test_swept_key_is_shown_by_default(seen):
    listed, ticked = list(seen.pane["hparams"]), seen.ticked("hparams")
    where = f"number {listed.index(SWEPT) + 1} of {len(listed)}" if SWEPT in listed else "absent"
    assert SWEPT in ticked, f"hyperparameters ticked by default: {ticked}; {SWEPT}: {where}"


def test_hparams_are_a_short_list(seen):
    listed = list(seen.pane["hparams"])
    assert len(listed) <= MAX_HPARAMS, f"{len(listed)} hyperparameters in HPARAMS: {listed}"


def test_one_row_per_training_run(seen):
    trials = seen.trial_ids
    assert len(trials) == RUNS, f"{len(trials)} rows for {RUNS} runs; trial IDs: {trials}"


def test_sweep_rows_are_named_after_their_override(seen):
    trials = seen.trial_ids
    named = [trial for trial in trials if "lr=" in trial]
    assert len(named) == len(LEARNING_RATES), f"trial IDs: {trials}"


def test_the_hparams_api_serves_each_runs_settings_and_summary_metrics(seen, logdir):
    """Through TensorBoard's HTTP API: the columns, and each row's values = its summary.json."""
    hparams = [h["name"] for h in seen.served.experiment["hparamInfos"]]
    assert SWEPT in hparams and "experiment" in hparams and len(hparams) <= 15, hparams
    summaries = {path.parent: read_summary(path.parent) for path in logdir.rglob("summary.json")}
    expected = {k for summary in summaries.values() for k in summary["metrics"]}
    metrics = {m["name"]["tag"] for m in seen.served.experiment["metricInfos"]}
    assert metrics == expected
    groups = seen.served.groups
    assert len(groups) == RUNS, [g["name"] for g in groups]
    for group in groups:
        (run_dir,) = [
            d for d in summaries if group["name"].endswith(d.relative_to(logdir).as_posix())
        ]
        summary = summaries[run_dir]
        values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        assert values == pytest.approx(summary["metrics"], rel=1e-6), group["name"]
        lr = group["hparams"][SWEPT]
        assert (f"lr={lr:g} " in group["name"]) == ("multiruns" in group["name"]), group["name"]


# -- Time Series ---------------------------------------------------------------------------------
def test_time_series_does_not_open_on_epoch(seen):
    groups = seen.groups
    assert groups, "no card groups in Time Series"
    assert groups[0] != "epoch", f"card groups: {groups}; open on loading: {seen.expanded}"


def test_time_series_has_no_hparams_cards(seen):
    titles = [card.title for card in seen.cards]
    copies = [title for title in titles if title and title.startswith("hparams/")]
    assert not copies, f"cards named hparams/...: {copies}; all cards: {titles}"


# -- Custom Scalars ------------------------------------------------------------------------------
def test_custom_scalars_draw_train_and_val_loss_together(seen):
    together = [
        chart
        for chart in seen.charts
        if "loss" in chart.title.lower() and {"train/loss", "val/loss"} <= chart.tags
    ]
    charts = [(chart.category, chart.title, sorted(chart.tags)) for chart in seen.charts]
    assert together, (
        f"Custom Scalars charts (category, title, tags): {charts or 'none'}; "
        f"dashboards in the top bar: {seen.plugins}"
    )
