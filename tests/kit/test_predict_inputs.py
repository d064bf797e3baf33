"""predict.py's input_csv: every prediction is of a real sample, on the line it came from, and
every row that cannot be read as one is refused with one clear line."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_script, script_env
from tiny import DATA_ENV

from trainkit.data import ArrayDataModule, CsvDataModule
from trainkit.errors import TrainkitError
from trainkit.run.inputs import read_inputs


def breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    with np.load(Path(os.environ[DATA_ENV]) / "breast_cancer.npz") as arrays:
        return arrays["X"], arrays["y"]


def write_rows(path: Path, rows: list[list], header: list[str] | None = None, **text) -> Path:
    with path.open("w", newline="", **text) as handle:
        writer = csv.writer(handle)
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def without_root_override() -> list[str]:
    """A command prefix under which a file without read permission cannot be read, even by
    root (which reads any file unless its override capabilities are dropped)."""
    if os.geteuid() != 0:
        return []
    prefix = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]
    if shutil.which("setpriv") is None or subprocess.run([*prefix, "true"]).returncode != 0:
        pytest.skip("root cannot give up its file permissions here (setpriv)")
    return prefix


def predict(run_dir: Path, out: Path, source: Path, prefix: list[str] = (), *options: str):
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    args = [f"ckpt_path={ckpt}", f"input_csv={source}", f"hydra.run.dir={out}", *options]
    if not prefix:
        return run_script("predict.py", *args)
    command = [*prefix, sys.executable, str(REPO / "scripts" / "predict.py"), *args]
    return subprocess.run(command, cwd=REPO, env=script_env(), capture_output=True, text=True)


def error_line(result) -> str:
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    return errors[0]


def test_each_prediction_carries_its_input_line(trained_runs, tmp_path):
    """A UTF-8 byte-order mark, blank lines and a trailing comma lose no sample, and a header of
    column numbers (as pandas writes it) is not predicted."""
    run_dir, _ = trained_runs["tiny_binary"]
    x, _ = breast_cancer()
    lines = [",".join(map(repr, row)) + "," for row in x[:4].tolist()]
    plain = tmp_path / "plain.csv"
    plain.write_text("\ufeff" + "\n".join([lines[0], "", lines[1], lines[2], "", lines[3]]) + "\n")
    numbered = write_rows(tmp_path / "numbered.csv", x[:3].tolist(), [str(i) for i in range(30)])
    tables = {}
    for source in (plain, numbered):
        result = predict(run_dir, tmp_path / source.stem, source)
        assert result.returncode == 0, result.stderr[-2000:]
        table = list(csv.reader((tmp_path / source.stem / "predictions.csv").open()))
        assert table[0] == ["input_line", "prediction", "prob_0", "prob_1"]
        tables[source.stem] = table[1:]
    assert [row[0] for row in tables["plain"]] == ["1", "3", "4", "6"]
    assert [row[0] for row in tables["numbered"]] == ["2", "3", "4"]
    assert tables["numbered"][0][1:] == tables["plain"][0][1:]  # the same sample, predicted alike
    assert "line 1 is a header" in result.stdout


def test_rows_without_a_real_value_are_refused_by_line(trained_runs, tmp_path):
    run_dir, _ = trained_runs["tiny_binary"]
    x, _ = breast_cancer()
    rows = [[repr(v) for v in row] for row in x[:8].tolist()]
    rows[1][3], rows[3][0], rows[5][7], rows[6][2] = "nan", "", "inf", "1e308"
    source = write_rows(tmp_path / "holes.csv", rows)
    result = predict(run_dir, tmp_path / "out", source)
    line = error_line(result)
    assert "4 of 8 rows" in line and "lines 2, 4, 6, 7" in line, line
    assert "line 2: 'nan' in the 4th column" in line, line
    assert not (tmp_path / "out" / "predictions.csv").exists()


def test_an_unreadable_input_file_is_one_clear_line(trained_runs, tmp_path):
    prefix = without_root_override()
    run_dir, _ = trained_runs["tiny_binary"]
    source = write_rows(tmp_path / "locked.csv", breast_cancer()[0][:2].tolist())
    source.chmod(0)
    line = error_line(predict(run_dir, tmp_path / "out", source, prefix))
    assert f"input_csv={source} cannot be read: permission denied" in line, line


@pytest.fixture(scope="module")
def named_csv(tmp_path_factory) -> CsvDataModule:
    """A data module trained from a CSV whose header names the features 1..30."""
    x, y = breast_cancer()
    path = tmp_path_factory.mktemp("named") / "train.csv"
    rows = [[*row, int(t)] for row, t in zip(x.tolist(), y, strict=True)]
    write_rows(path, rows, [*map(str, range(1, 31)), "label"])
    datamodule = CsvDataModule(path=str(path), target="label", num_classes=2)
    datamodule.setup()
    return datamodule


def test_a_header_is_known_by_the_training_names(named_csv, tmp_path):
    x, _ = breast_cancer()
    names = [str(i) for i in range(1, 31)]
    inputs, lines = read_inputs(write_rows(tmp_path / "a.csv", x[:3].tolist(), names), named_csv)
    assert lines == [2, 3, 4] and inputs.shape == (3, 30)
    _, lines = read_inputs(write_rows(tmp_path / "b.csv", x[:3].tolist()), named_csv)
    assert lines == [1, 2, 3]
    with_target = write_rows(tmp_path / "c.csv", [[*x[0], 1]], [*names, "label"])
    with pytest.raises(TrainkitError, match=r"columns the model was not trained on \(label\)"):
        read_inputs(with_target, named_csv)
    swapped = write_rows(tmp_path / "d.csv", x[:1].tolist(), [names[1], names[0], *names[2:]])
    with pytest.raises(TrainkitError, match="the training columns in another order"):
        read_inputs(swapped, named_csv)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: write_rows(p / "u.csv", [[1.0] * 30], encoding="utf-16"), "is UTF-16 text"),
        (lambda p: (p / "l.csv").write_bytes(b"1.0,caf\xe9\n") and p / "l.csv", "not UTF-8"),
        (lambda p: p, "is a folder; give one CSV file"),
        (lambda p: p / "none.csv", "input_csv not found"),
        (lambda p: write_rows(p / "m.csv", [["1", "two", *["3"] * 28]]), "mixes numbers and text"),
        (lambda p: write_rows(p / "h.csv", [], [f"f{i}" for i in range(30)]), "no rows to predict"),
    ],
    ids=["utf16", "latin1", "folder", "missing", "mixed", "header only"],
)
def test_a_file_that_is_no_table_of_samples_is_refused(tmp_path, make, fragment):
    datamodule = ArrayDataModule(path=str(Path(os.environ[DATA_ENV]) / "breast_cancer.npz"))
    datamodule.setup()
    with pytest.raises(TrainkitError, match=fragment):
        read_inputs(make(tmp_path), datamodule)


def test_a_line_of_wavelengths_is_a_header_or_a_sample_as_the_user_says(trained_runs, tmp_path):
    """Ordered whole numbers that are not the training names (a model trained from arrays has
    none) may be column names or a sample: auto refuses to guess, input_header says which."""
    run_dir, _ = trained_runs["tiny_binary"]
    x, _ = breast_cancer()
    wavelengths = [str(400 + 10 * i) for i in range(30)]
    source = write_rows(tmp_path / "spectra.csv", x[:3].tolist(), wavelengths)
    line = error_line(predict(run_dir, tmp_path / "auto", source))
    assert "line 1 holds only whole numbers in order (400, 410, 420," in line, line
    assert "input_header=true" in line and "input_header=false" in line, line
    assert not (tmp_path / "auto" / "predictions.csv").exists()
    tables = {}
    for choice in ("true", "false"):
        result = predict(run_dir, tmp_path / choice, source, (), f"input_header={choice}")
        assert result.returncode == 0, result.stderr[-2000:]
        tables[choice] = list(csv.reader((tmp_path / choice / "predictions.csv").open()))[1:]
    assert [row[0] for row in tables["true"]] == ["2", "3", "4"]
    assert [row[0] for row in tables["false"]] == ["1", "2", "3", "4"]
    assert tables["false"][1:] == tables["true"]  # the header, predicted as asked, adds one row


@pytest.fixture(scope="module")
def unnamed() -> ArrayDataModule:
    """A data module trained from arrays: 30 inputs without names."""
    datamodule = ArrayDataModule(path=str(Path(os.environ[DATA_ENV]) / "breast_cancer.npz"))
    datamodule.setup()
    return datamodule


@pytest.mark.parametrize(
    ("first", "lines"),
    [
        ([str(i) for i in range(30)], [2, 3]),  # 0..F-1, as pandas writes it
        ([str(i) for i in range(1, 31)], [2, 3]),  # 1..F
        ([f"{400 + 2.5 * i}" for i in range(30)], [1, 2, 3]),  # not whole numbers: a sample
        ([str(i * i % 7) for i in range(30)], [1, 2, 3]),  # not in order: a sample
    ],
    ids=["0..F-1", "1..F", "fractions", "unordered"],
)
def test_line_1_is_read_by_what_it_holds(unnamed, tmp_path, first, lines):
    x, _ = breast_cancer()
    source = write_rows(tmp_path / "in.csv", x[:2].tolist(), first)
    inputs, found = read_inputs(source, unnamed)
    assert found == lines and inputs.shape == (len(lines), 30)


def test_ordered_whole_numbers_are_asked_about_only_when_line_2_differs(unnamed, tmp_path):
    x, _ = breast_cancer()
    wavenumbers = [str(4000 - 2 * i) for i in range(30)]  # descending, as in infrared spectra
    for rows in ([], x[:2].tolist()):
        source = write_rows(tmp_path / "in.csv", rows, wavenumbers)
        with pytest.raises(TrainkitError, match=r"\(4000, 3998, .*input_header=true"):
            read_inputs(source, unnamed)
    counts = [[str(10 * i + r) for i in range(30)] for r in range(3)]  # every line alike
    assert read_inputs(write_rows(tmp_path / "c.csv", counts), unnamed)[1] == [1, 2, 3]
    short = write_rows(tmp_path / "s.csv", x[:1].tolist(), wavenumbers[:29])
    with pytest.raises(TrainkitError, match="header .input_header=true. of 29 columns"):
        read_inputs(short, unnamed, True)
    with pytest.raises(TrainkitError, match="input_header must be auto, true or false, got 'yes'"):
        read_inputs(short, unnamed, "yes")
