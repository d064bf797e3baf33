"""A real TensorBoard in headless Chromium: what a reviewer sees, read from the rendered page.

Nothing here knows what trainkit logs; it reads TensorBoard's own UI (2.21: the Angular shell
with its Time Series dashboard, and the Polymer HPARAMS and Custom Scalars dashboards, whose
elements sit in open shadow roots: Playwright's CSS selectors pierce those, the page scripts
below walk them).

    with browser_page() as page, running_tensorboard(logdir, scratch) as tb:
        open_dashboard(page, tb.url, "hparams")
        headers, rows = hparams_table(page)
        screenshot(page, "hparams_table")

Without the playwright package or a Chromium the test is skipped, loudly: the reason is in the
short summary (pytest runs with -ra) and in the warnings summary.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ENV = "TRAINKIT_CHROMIUM"  # a Chromium of your own: its path or a name on PATH
SCREENSHOTS_ENV = "TRAINKIT_SCREENSHOTS"  # where screenshot() saves; default below
SCREENSHOTS = REPO / "test-output" / "screenshots"
# Debian's package, then the names of other Linux builds (a GitHub runner has Google Chrome)
CHROMIUMS = (
    "/usr/bin/chromium",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1600, "height": 1000}
INSTALL = (
    'install them: `pip install -e ".[dev]"` (playwright) and `python tests/install_browser.py` '
    "(Debian's chromium)"
)
WAIT_S = 30.0  # the longest any wait here lasts
POLL_S = 0.2
# A dashboard is ready when what it shows stops changing for this long; an empty dashboard
# ("no data") must stay empty longer, as every dashboard starts out empty.
STABLE_S = 0.8
STABLE_EMPTY_S = 3.0


# -- the browser ---------------------------------------------------------------------------------
def chromium_path() -> str | None:
    """A Chromium to drive: $TRAINKIT_CHROMIUM if set, else the first of CHROMIUMS found."""
    wanted = os.environ.get(CHROMIUM_ENV)
    for candidate in [wanted] if wanted else CHROMIUMS:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def skip_loudly(why: str) -> NoReturn:
    """Skip the test, saying what to install, in the skip reason and as a warning: the warnings
    summary shows it even where the short summary of skips (-rs, -ra) is turned off."""
    message = f"browser test skipped: {why}; {INSTALL}"
    # the warning names the line that asked for a browser, past this file and contextlib
    frame, level = sys._getframe(), 1
    while frame is not None and frame.f_code.co_filename in (__file__, contextlib.__file__):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, pytest.PytestWarning, stacklevel=level)
    pytest.skip(message)


@contextlib.contextmanager
def browser_page(viewport: dict[str, int] | None = None) -> Iterator[Page]:
    """A fresh page of headless Chromium (1600x1000 unless `viewport` says otherwise), closed on
    leaving. Skips the test (loudly) when playwright or Chromium is missing or cannot start."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        skip_loudly("the playwright package is not installed")
    executable = chromium_path()
    if executable is None:
        looked = os.environ.get(CHROMIUM_ENV) or ", ".join(CHROMIUMS)
        skip_loudly(f"no Chromium found (looked for {looked}; ${CHROMIUM_ENV} names another)")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=executable,
                headless=True,
                args=CHROMIUM_ARGS,
                timeout=WAIT_S * 1000,
            )
        except Error as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            skip_loudly(f"Chromium ({executable}) did not start: {first_line}")
        try:
            page = browser.new_page(viewport=viewport or VIEWPORT)
            page.set_default_timeout(WAIT_S * 1000)
            yield page
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Save what the page shows as <name>.png in test-output/screenshots/ (or
    $TRAINKIT_SCREENSHOTS); returns the file."""
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name if name.endswith(".png") else f"{name}.png")
    page.screenshot(path=str(path))
    return path


# -- opening a dashboard -------------------------------------------------------------------------
# Page scripts share these helpers: every element matching `selector` in the document and in
# every open shadow root below `root` (a selector matches within one root, never across).
_DEEP = """
const deepAll = (selector, root = document) => {
  const found = [];
  const visit = (node) => {
    found.push(...node.querySelectorAll(selector));
    for (const el of node.querySelectorAll('*')) if (el.shadowRoot) visit(el.shadowRoot);
  };
  visit(root);
  return found;
};
const deepFirst = (selector, root = document) => deepAll(selector, root)[0] || null;
const clean = (text) => (text || '').replace(/\\s+/g, ' ').trim();
const shown = (el) => {
  const box = el.getBoundingClientRect();
  return box.width > 0 && box.height > 0;
};
const busy = (root) => deepAll(
  'mat-spinner, mat-progress-spinner, paper-spinner[active], paper-spinner-lite[active]', root
).filter(shown).length;
"""


def _script(body: str) -> str:
    """A page function `(arg) => {...}` with the shared helpers in scope."""
    return "(arg) => {" + _DEEP + body + "}"


# Each probe returns null while its dashboard is still loading, else {empty, seen}: `seen` is what
# it shows, compared between polls.
_PROBES = {
    "hparams": _script("""
  const dashboard = deepFirst('tf-hparams-dashboard');
  if (!dashboard) return null;
  const warning = deepFirst('.no-data-warning', dashboard.shadowRoot);  // "No hparams data..."
  if (warning && shown(warning)) return {empty: true, seen: clean(warning.textContent)};
  const grid = deepFirst('vaadin-grid#sessionGroupsTable', dashboard.shadowRoot);
  if (!grid || !grid.shadowRoot || typeof grid.size !== 'number') return null;
  const cellText = (cell) => {
    const slot = cell.querySelector('slot');
    return clean(slot ? slot.assignedElements({flatten: true}).map((e) => e.textContent).join(' ')
                      : cell.textContent);
  };
  const header = [...grid.shadowRoot.querySelectorAll('thead th')].filter((c) => !c.hidden)
    .map(cellText);
  const rows = [...grid.shadowRoot.querySelectorAll('tbody tr')]
    .filter((r) => !r.hidden && typeof r.index === 'number' && r.index < grid.size)
    .map((r) => [...r.children].map(cellText).join('|'));
  if (!header.length || (grid.size > 0 && (!rows.length || rows.some((r) => !r)))) return null;
  const pane = deepAll('paper-checkbox.hparam-checkbox, paper-checkbox.metric-checkbox',
                       dashboard.shadowRoot).map((c) => clean(c.textContent) + '=' + c.checked);
  return {empty: grid.size === 0, seen: [header, rows, pane]};
"""),
    "timeseries": _script("""
  const groups = document.querySelector('metrics-card-groups-component');
  if (!groups) return document.querySelector('metrics-dashboard') ? {empty: true, seen: 0} : null;
  const names = [...groups.querySelectorAll('.card-group .group-title')]
    .map((e) => clean(e.textContent));
  if (!names.length) return {empty: true, seen: 0};
  // a card is drawn once in sight (until then it is an empty box): those in sight must be
  const inSight = [...groups.querySelectorAll('card-view')].filter((card) => {
    const box = card.getBoundingClientRect();
    return box.height > 0 && box.top < innerHeight && box.bottom > 0;
  });
  const titles = inSight.map((card) => {
    const title = card.querySelector('tb-truncated-path');
    return title ? clean(title.textContent) : '';
  });
  if (!titles.length || titles.some((t) => !t) || busy(groups)) return null;
  return {empty: false, seen: [names, titles]};
"""),
    "custom_scalars": _script("""
  const dashboard = deepFirst('tf-custom-scalar-dashboard');
  // _layout: the layout as the server answered it ({} when no run wrote one), unset before
  if (!dashboard || dashboard._layout === undefined) return null;
  const cards = deepAll(
    'tf-custom-scalar-multi-line-chart-card, tf-custom-scalar-margin-chart-card',
    dashboard.shadowRoot);
  if (!cards.length) return {empty: true, seen: 0};
  const seen = cards.map((card) => {
    // "Matches (N)": the series the chart draws, listed (multi-line and margin charts)
    const matches = card.shadowRoot &&
      card.shadowRoot.querySelector('.matches-text, .collapsible-title-text');
    return matches ? clean(card.title) + ':' + clean(matches.textContent) : '';
  });
  if (seen.some((s) => !s) || busy(dashboard.shadowRoot)) return null;
  return {empty: false, seen};
"""),
}
_GENERIC_PROBE = _script("""
  const plugins = document.querySelector('plugins-component');
  if (!plugins || !plugins.querySelector('*')) return null;
  return {empty: false, seen: deepAll('*', plugins).length};
""")


def open_dashboard(page: Page, url: str, plugin: str, timeout: float = WAIT_S) -> dict[str, Any]:
    """Load TensorBoard at `url` on `plugin`'s dashboard ("hparams", "timeseries",
    "custom_scalars", or any other plugin name), and return once it has rendered its data (or
    shown that it has none): when what it shows stopped changing. Fails the test, with a
    screenshot <plugin>_not_ready.png, if that takes longer than `timeout` seconds.

    Each call loads the page afresh: TensorBoard keeps dashboards visited before in the page.
    Returns the last probe ({"empty": bool, "seen": ...}).
    """
    page.goto("about:blank")
    page.goto(f"{url.rstrip('/')}/#{plugin}", wait_until="domcontentloaded")
    probe = _PROBES.get(plugin, _GENERIC_PROBE)
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        state = page.evaluate(probe)
        now = time.monotonic()
        if state is None or state != last:
            last, since = state, now
        elif now - since >= (STABLE_EMPTY_S if state["empty"] else STABLE_S):
            return state
        if now > deadline:
            shot = screenshot(page, f"{plugin}_not_ready")
            pytest.fail(
                f"TensorBoard's {plugin} dashboard at {url} did not finish rendering within "
                f"{timeout:.0f} s (screenshot: {shot}); last seen: {str(last)[:2000]}"
            )
        page.wait_for_timeout(POLL_S * 1000)


def active_plugins(page: Page) -> list[str]:
    """The dashboards in TensorBoard's top bar, as labelled ("Time Series", "scalars", "Custom
    Scalars", "hparams", ...); those without data are left out (they sit in its "Inactive" menu)."""
    tabs = page.locator("plugin-selector .mdc-tab:not(.mat-mdc-tab-disabled) .plugin-name")
    return [text.strip() for text in tabs.all_text_contents()]


# -- HPARAMS -------------------------------------------------------------------------------------
@dataclass
class HParamsGrid:
    """The HPARAMS table view as rendered: column headers and rows, left to right and top to
    bottom, the full text of each cell (also where the page cuts it short with an ellipsis),
    which cells are cut short, and each column's width in pixels."""

    headers: list[str]
    rows: list[list[str]]
    truncated: list[list[bool]] = field(default_factory=list)  # per row, per column
    header_truncated: list[bool] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)


_READ_GRID = """(grid) => {
  const read = (cell) => {
    const slot = cell.querySelector('slot');
    const content = slot ? slot.assignedElements({flatten: true})[0] : null;
    const inner = content ? (content.querySelector('.table-cell') || content) : cell;
    const box = cell.getBoundingClientRect();
    return {
      text: (content || cell).textContent.replace(/\\s+/g, ' ').trim(),
      truncated: inner.scrollWidth > inner.clientWidth + 1,
      left: box.left,
      width: Math.round(box.width),
    };
  };
  // row details cells (the "Show Metrics" charts) span the row: not a column
  const columns = (cells) => cells
    .filter((c) => !c.hidden && !(c.getAttribute('part') || '').includes('details'))
    .map(read).sort((a, b) => a.left - b.left);
  const headerRows = [...grid.shadowRoot.querySelectorAll('thead tr')]
    .map((r) => columns([...r.children])).filter((r) => r.length);
  return {
    size: grid.size,
    header: headerRows.length ? headerRows[headerRows.length - 1] : [],
    rows: [...grid.shadowRoot.querySelectorAll('tbody tr')]
      .filter((r) => !r.hidden && typeof r.index === 'number' && r.index < grid.size)
      .map((r) => ({index: r.index, cells: columns([...r.children])})),
  };
}"""


def hparams_grid(page: Page) -> HParamsGrid:
    """HPARAMS' TABLE VIEW (its default view) as rendered, every row: the grid draws only the
    rows in sight, so a long table is scrolled through. Only the columns ticked in the left pane
    are columns of the table (see hparams_pane)."""
    grid = page.locator("tf-hparams-table-view vaadin-grid#sessionGroupsTable")
    if not grid.count():  # "No hparams data was found"
        return HParamsGrid(headers=[], rows=[])
    seen = grid.evaluate(_READ_GRID)
    rows = {row["index"]: row["cells"] for row in seen["rows"]}
    deadline = time.monotonic() + WAIT_S
    while len(rows) < seen["size"] and time.monotonic() < deadline:
        missing = min(set(range(seen["size"])) - set(rows))
        grid.evaluate("(grid, index) => grid.scrollToIndex(index)", missing)
        page.wait_for_timeout(POLL_S * 1000)
        seen = grid.evaluate(_READ_GRID)
        rows.update({row["index"]: row["cells"] for row in seen["rows"]})
    if seen["size"] > len(seen["rows"]):
        grid.evaluate("(grid) => grid.scrollToIndex(0)")
    assert len(rows) == seen["size"], f"read {len(rows)} of the table's {seen['size']} rows"
    ordered = [rows[i] for i in range(seen["size"])]
    header = seen["header"]
    return HParamsGrid(
        headers=[cell["text"] for cell in header],
        rows=[[cell["text"] for cell in row] for row in ordered],
        truncated=[[cell["truncated"] for cell in row] for row in ordered],
        header_truncated=[cell["truncated"] for cell in header],
        widths=[cell["width"] for cell in header],
    )


def hparams_table(page: Page) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of HPARAMS' TABLE VIEW: "Trial ID", "Show Metrics" (a checkbox: its cells
    read ""), then the hyperparameters and metrics ticked in the left pane."""
    grid = hparams_grid(page)
    return grid.headers, grid.rows


def hparams_pane(page: Page) -> dict[str, dict[str, bool]]:
    """HPARAMS' left pane: {"hparams": {name: ticked}, "metrics": {name: ticked}}, in its order.
    Ticked is shown as a column of the table; right after open_dashboard (before any click)
    this is TensorBoard's default choice."""
    pane = page.locator("tf-hparams-query-pane")
    return {
        kind: dict(
            pane.locator(f"paper-checkbox.{css}").evaluate_all(
                "(boxes) => boxes.map((b) => [b.textContent.replace(/\\s+/g, ' ').trim(),"
                " Boolean(b.checked)])"
            )
        )
        for kind, css in (("hparams", "hparam-checkbox"), ("metrics", "metric-checkbox"))
    }


def hparams_shown(page: Page) -> list[str]:
    """The hyperparameters, then the metrics, ticked in HPARAMS' left pane (shown as columns)."""
    return [name for names in hparams_pane(page).values() for name, on in names.items() if on]


# -- Time Series ---------------------------------------------------------------------------------
_READ_CARDS = """async ({expand, only}) => {
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
  const until = async (find, ms) => {
    const end = Date.now() + ms;
    let found = find();
    while (!found && Date.now() < end) { await sleep(50); found = find(); }
    return found;
  };
  const titleOf = (space) => {
    const path = space.querySelector('card-view tb-truncated-path');
    const text = path && [...path.querySelectorAll('span')]
      .map((s) => s.textContent.trim()).join('');
    return text || (path && path.textContent.trim()) || null;
  };
  const cards = [];
  const groups = [...document.querySelectorAll('metrics-card-groups-component .card-group')];
  for (const group of groups) {
    const name = ((group.querySelector('.group-title') || {}).textContent || '').trim();
    if (only !== null && name !== only) continue;
    const closed = Boolean(group.querySelector('[svgicon^="expand_more"]'));  // no cards drawn
    if (closed && !expand) continue;
    if (closed) group.querySelector('button.group-toolbar').click();
    (group.querySelector('metrics-card-grid') || group).scrollIntoView({block: 'start'});
    await until(() => group.querySelector('.card-space'), 5000);
    // a group shows 12 cards a page, with Previous / Next buttons above and below them
    for (let number = 1; ; number++) {
      const spaces = [...group.querySelectorAll('.card-space')];
      for (const space of spaces) {
        if (!titleOf(space)) space.scrollIntoView({block: 'start'});
        cards.push({group: name, page: number, title: await until(() => titleOf(space), 5000)});
      }
      const next = group.querySelector('button.next.pagination-button');
      if (!next || next.disabled) break;
      next.click();
      await until(() => !spaces.includes(group.querySelector('.card-space')), 5000);
      (group.querySelector('metrics-card-grid') || group).scrollIntoView({block: 'start'});
    }
    if (closed) group.querySelector('button.group-toolbar').click();  // closed again
  }
  if (groups.length) groups[0].scrollIntoView({block: 'start'});
  return cards;
}"""


@dataclass
class Card:
    """A Time Series card: its group, the page of the group it is on (from 1), its title."""

    group: str
    page: int
    title: str | None


def timeseries_groups(page: Page) -> list[str]:
    """The card groups of the Time Series dashboard, top to bottom (without "Pinned"). A group
    holds the tags that share the part before their first "/" (a tag without one, its own)."""
    titles = page.locator("metrics-card-groups-component .card-group .group-title")
    return [text.strip() for text in titles.all_text_contents()]


def timeseries_expanded(page: Page) -> list[str]:
    """The card groups that show their cards; the others show only their name and card count.
    TensorBoard opens the first two groups of a page it loads and closes the rest."""
    groups = page.locator("metrics-card-groups-component .card-group").evaluate_all(
        "(groups) => groups.filter((g) => g.querySelector('[svgicon^=\"expand_less\"]'))"
        ".map((g) => g.querySelector('.group-title').textContent.trim())"
    )
    return list(groups)


def timeseries_card_list(page: Page, group: str | None = None, expand: bool = True) -> list[Card]:
    """Every card of the Time Series dashboard in page order (of one group, if given): an image
    card comes once per run, a card still untitled after 5 s has the title None.

    Cards are drawn only once in sight, so the page is scrolled through (and back to the top); a
    group of more than 12 cards is paged through (its Next button, which leaves it on its last
    page); a closed group is opened to be read and closed again, unless expand=False, which
    reads only the groups open now. Take screenshots before.
    """
    return [Card(**card) for card in page.evaluate(_READ_CARDS, {"expand": expand, "only": group})]


def timeseries_cards(page: Page, group: str | None = None, expand: bool = True) -> list[str]:
    """The card titles of timeseries_card_list(), in page order."""
    return [card.title for card in timeseries_card_list(page, group, expand)]


# -- Custom Scalars ------------------------------------------------------------------------------
@dataclass
class Chart:
    """A Custom Scalars chart as drawn: its category and title, "multiline" or "margin", and
    the series its "Matches" list names, as (tag, run)."""

    category: str
    title: str
    kind: str
    series: list[tuple[str, str]]

    @property
    def tags(self) -> set[str]:
        return {tag for tag, _ in self.series}


_READ_CHARTS = _script("""
  const dashboard = deepFirst('tf-custom-scalar-dashboard');
  if (!dashboard) return [];
  return deepAll('tf-category-paginated-view', dashboard.shadowRoot).flatMap((view) => {
    const category = clean((deepFirst('.category-name', view.shadowRoot) || {}).textContent);
    return [...view.querySelectorAll(
      'tf-custom-scalar-multi-line-chart-card, tf-custom-scalar-margin-chart-card')]
      .map((card) => {
        const heading = deepFirst('.heading-label', card.shadowRoot);
        return {
          category,
          title: clean(heading ? heading.textContent : card.title),
          kind: card.localName.includes('margin') ? 'margin' : 'multiline',
          entries: [...card.shadowRoot.querySelectorAll('.match-list-entry')].map((entry) => {
            const copy = entry.cloneNode(true);
            copy.querySelectorAll('.match-entry-symbol').forEach((s) => s.remove());
            return clean(copy.textContent);
          }),
        };
      });
  });
""")


def custom_scalar_charts(page: Page) -> list[Chart]:
    """The charts of the Custom Scalars dashboard, category by category (those of open
    categories: TensorBoard draws a closed one's charts only when it is opened)."""
    charts = []
    for chart in page.evaluate(_READ_CHARTS):
        series = []
        for entry in chart["entries"]:  # "val/loss (tiny_binary/runs/.../tensorboard)"
            tag, _, run = entry.rpartition(" (")
            series.append((tag, run[:-1]) if tag and run.endswith(")") else (entry, ""))
        charts.append(Chart(chart["category"], chart["title"], chart["kind"], series))
    return charts


def hparams_tick(page: Page, name: str) -> HParamsGrid:
    """Tick `name` (a hyperparameter or metric) in HPARAMS' left pane, as a reviewer would, and
    return the table once it has that column."""
    pane = page.locator("tf-hparams-query-pane")
    boxes = pane.locator("paper-checkbox.hparam-checkbox, paper-checkbox.metric-checkbox")
    labels = [" ".join(t.split()) for t in boxes.all_text_contents()]
    assert name in labels, f"{name!r} is not in HPARAMS' left pane: {labels}"
    box = boxes.nth(labels.index(name))
    if not box.evaluate("(b) => Boolean(b.checked)"):
        box.click()
    deadline = time.monotonic() + WAIT_S
    while True:
        grid = hparams_grid(page)
        if name in grid.headers or time.monotonic() > deadline:
            return grid
        page.wait_for_timeout(POLL_S * 1000)
