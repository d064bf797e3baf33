"""The notebooks run top to bottom on fresh training runs and show those runs' own numbers."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from conftest import REPO, compose_train, read_summary, script_env
from nbclient import NotebookClient

NOTEBOOKS = REPO / "notebooks"


@pytest.fixture(scope="session")
def notebook_runs(tmp_path_factory) -> dict[str, Path]:
    """Two 2-epoch tiny_cnn runs laid out as under logs/: a healthy one and, trained first, one
    whose learning rate is far too high (so the doctor has findings). Returns {name: run_dir}."""
    import torch

    from trainkit.run.train import train

    runs_dir = tmp_path_factory.mktemp("notebooks") / "logs" / "tiny_cnn" / "runs"
    runs = {"diverged": runs_dir / "lr0.5", "healthy": runs_dir / "lr0.002"}
    threads = torch.get_num_threads()
    # Runs this small gain nothing from a second thread; on a busy machine two threads wait on
    # each other and training is ten times slower.
    torch.set_num_threads(1)
    try:
        for name, lr in (("diverged", ["model.optimizer.lr=0.5"]), ("healthy", [])):
            train(compose_train(runs[name], ["+experiment=tiny_cnn", "trainer.max_epochs=2", *lr]))
    finally:
        torch.set_num_threads(threads)
    return runs


def execute(name: str, **parameters) -> nbformat.NotebookNode:
    """Run notebooks/<name>.ipynb from the repository root with `parameters` set in its first
    code cell (after the defaults there); returns the executed notebook."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in cell.metadata.get("tags", []), "the first code cell holds the parameters"
    defaults = set(re.findall(r"^(\w+) =", cell.source, re.MULTILINE))
    assert set(parameters) <= defaults, f"not parameters of {name}: {set(parameters) - defaults}"
    cell.source += "".join(f"\n{key} = {value!r}" for key, value in parameters.items())
    client = NotebookClient(nb, timeout=120, kernel_name="python3")
    client.execute(cwd=str(REPO), env={**script_env(), "MPLBACKEND": "Agg"})  # tests/ importable
    return nb


def text_of(nb: nbformat.NotebookNode) -> str:
    """Everything the cells printed or displayed as text."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") or out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def images_of(nb: nbformat.NotebookNode) -> int:
    """How many figures the cells drew."""
    return sum("image/png" in out.get("data", {}) for c in nb.cells for out in c.get("outputs", []))


def test_notebooks_are_stored_without_outputs():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


def test_compare_runs_shows_each_runs_curves_metrics_and_findings(notebook_runs):
    diverged, healthy = notebook_runs["diverged"], notebook_runs["healthy"]
    nb = execute("compare_runs", RUN_DIRS=[str(diverged), str(healthy)])
    text = text_of(nb)
    summaries = {run: read_summary(run) for run in (diverged, healthy)}
    for run in (diverged, healthy):
        assert f"{run.name}: tiny_cnn, completed (max_epochs), 2 epochs of curves" in text
    # the one setting that differs, in the order the runs were given
    assert re.search(r"^model\.optimizer\.lr +0\.5 +0\.002$", text, re.MULTILINE)
    recalls = [f"{summaries[run]['metrics']['test/recall']:.4f}" for run in (diverged, healthy)]
    assert re.search(rf"^test/recall +{recalls[0]} +{recalls[1]}$", text, re.MULTILINE)
    assert images_of(nb) == 5, "the curves, then two confusion matrices (counts, recall) per run"
    assert summaries[diverged]["diagnostics"], "lr=0.5 should give the doctor something to report"
    for run, summary in summaries.items():
        if not summary["diagnostics"]:
            assert f"{run.name}: no findings" in text
        for finding in summary["diagnostics"]:
            row = rf"^{re.escape(run.name)} +{finding['severity']} +{finding['code']} "
            assert re.search(row, text, re.MULTILINE), finding["code"]


def test_inspect_model_recomputes_the_runs_test_numbers(notebook_runs):
    healthy = notebook_runs["healthy"]
    # No RUN_DIR: the notebook picks the newest classifier run under LOGS_DIR, the healthy one.
    nb = execute("inspect_model", LOGS_DIR=str(healthy.parents[2]))
    text = text_of(nb)
    summary = read_summary(healthy)
    assert Path(re.search(r"^Run: (.+) \(tiny_cnn\)$", text, re.MULTILINE)[1]) == healthy
    matrix = np.array(summary["confusion_matrix"]["test"])
    wrong = int(matrix.sum() - np.trace(matrix))
    assert f"{wrong} of {matrix.sum()} test samples misclassified" in text
    recall = re.search(r"macro recall over 10 classes: ([\d.]+) \(summary.json", text)
    assert float(recall[1]) == pytest.approx(summary["metrics"]["test/recall"], abs=1e-6)
    assert "scikit-learn and torchmetrics agree: True" in text
    assert "The same counts as the test confusion matrix in summary.json: True" in text
    assert images_of(nb) == 2 + (wrong > 0), "the misclassified samples, then the two matrices"
