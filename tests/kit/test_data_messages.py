"""Training data that cannot be trained on as it is: each message names what was seen and the fix
that works (data=csv and data=arrays)."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import QUIET, REPO, read_summary, run_script, script_env
from test_predict_inputs import breast_cancer, error_line, without_root_override

from trainkit.data import ArrayDataModule
from trainkit.data.csv_file import read_csv
from trainkit.doctor.data_checks import check_labels
from trainkit.errors import TrainkitError

ROWS = [f"{i % 7},{(3 * i) % 5}" for i in range(40)]
CSV = ["+experiment=tiny_binary", "data=csv", "data.num_features=2", "data.num_classes=2", *QUIET]


def table(labels: list[str], header: str = "a,b,label", end: str = "") -> str:
    """A CSV text of ROWS with `labels` cycled as the last column, each line ending in `end`."""
    lines = [header] if header else []
    lines += [f"{row},{labels[i % len(labels)]}" for i, row in enumerate(ROWS)]
    return "\n".join(line + end for line in lines) + "\n"


CSV_CASES = {
    "labels -1 and +1": (table(["-1", "1"]), {}, "holds -1 (line 2); relabel them -1 as 0, 1 as 1"),
    "labels from 1": (table(["1", "2"]), {}, None),  # read as classes 0..2; the doctor says more
    "a float32 overflow": (
        table(["0", "1"]) + "1,1e308,0\n",
        {},
        "column 'b' on line 42 holds 1e+308, too large for float32",
    ),
    "no header, trailing commas": (
        table(["0", "1"], header="", end=","),
        {"header": False},
        "every line ends with a comma",
    ),
    "header only": ("a,b,label\n", {}, "has a header (a, b, label) but no data rows"),
    "a name twice": (table(["0", "1"], header="a,a,label"), {}, "names columns 1 and 2 both 'a'"),
    "an unnamed index column": (
        ",a,b,label\n" + "\n".join(f"{i},{r},0" for i, r in enumerate(ROWS)),
        {},
        "column 1 has no name in the header; name it, or drop it if it is a row index",
    ),
    "a misspelt target": (
        table(["0", "1"]),
        {"target": "lable"},
        "its columns: a, b, label. Did you mean 'label'?",
    ),
    "a short row": (
        table(["0", "1"]).replace("\n3,1,1\n", "\n3,1\n"),
        {},
        "line 19 has 2 cells but the header has 3",
    ),
    "fractional labels": (
        table(["0", "0.5"]),
        {},
        "holds '0.5' on line 3, but class labels are whole numbers",
    ),
    "numbers and text": (
        table(["0", "1", "?"]),
        {},
        "mixes numbers ('0' on line 2) and text ('?' on line 4)",
    ),
    "decimal commas": (
        "".join(f"{i},5;2,5;{i % 2}\n" for i in range(40)),
        {"header": False},
        "holds ';' in its cells. Is it separated by ';'?",
    ),
    "an index that is also a name": (
        table(["0", "1"], header="1,2,3"),
        {"target": 1},
        "data.target=1 is ambiguous",
    ),
}


@pytest.mark.parametrize("case", CSV_CASES, ids=list(CSV_CASES))
def test_a_csv_file_is_read_or_refused_with_what_was_seen(tmp_path, case):
    text, options, fragment = CSV_CASES[case]
    path = tmp_path / "data.csv"
    path.write_text(text)
    if fragment is None:
        data = read_csv(str(path), **options)
        assert data.class_names == ["0", "1", "2"] and set(data.y.tolist()) == {1, 2}
        return
    with pytest.raises(TrainkitError, match=re.escape(fragment)):
        read_csv(str(path), **options)


def test_numerically_equal_labels_are_one_class_and_a_trailing_comma_is_no_column(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("\ufeff" + table(["0", "1.0", "0.0", "1", "1e0"], end=","))
    data = read_csv(str(path), target="label")
    assert data.class_names == ["0", "1"] and data.feature_names == ["a", "b"]
    assert data.y.tolist()[:5] == [0, 1, 0, 1, 1] and data.x.shape == (40, 2)


def test_one_reader_refuses_other_encodings_for_training_and_predictions(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(table(["0", "1"]), encoding="utf-16")
    with pytest.raises(TrainkitError, match="is UTF-16 text, but trainkit reads UTF-8"):
        read_csv(str(path))
    path.write_bytes(table(["0", "caf\xe9"]).encode("latin-1"))
    with pytest.raises(TrainkitError, match=r"not UTF-8 text \(byte 0xe9 on line 3"):
        read_csv(str(path))


def test_an_array_file_is_refused_with_what_was_seen(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 3))
    cases = {
        "pm.npz": (dict(X=x, y=np.where(np.arange(40) % 2, 1, -1)), "relabel them -1 as 0, 1 as 1"),
        "big.npz": (
            dict(X=np.where(x > 2, 1e308, x), y=np.arange(40) % 2),
            "too large for float32",
        ),
    }
    for name, (arrays, fragment) in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(TrainkitError, match=fragment):
            ArrayDataModule(path=str(tmp_path / name)).setup()
    folder = tmp_path / "folder"
    folder.mkdir()
    np.save(folder / "X.npy", x)
    np.save(folder / "labels.npy", np.arange(40) % 2)
    with pytest.raises(TrainkitError, match=r"is a folder without y.npy \(it holds X.npy, labels"):
        ArrayDataModule(path=str(folder)).setup()


@pytest.mark.parametrize(
    ("labels", "num_classes", "fix"),
    [
        ([-1, 1, 1, -1], 2, "relabel them -1 as 0, 1 as 1"),
        ([1, 2, 2, 1], 2, "relabel them 1 as 0, 2 as 1"),
        ([0, 1, 2, 0], 2, "data.num_classes=3"),
    ],
)
def test_the_doctor_names_the_labels_and_the_fix_that_fits_them(labels, num_classes, fix):
    found = check_labels({"train": torch.tensor(labels)}, num_classes)
    seen = ", ".join(map(str, sorted(set(labels))))
    assert f"labels seen: {seen}" in found.message and fix in found.message
    assert f"data.num_classes={num_classes}" not in found.message  # never the value it has


def test_csv_mistakes_are_one_line_from_the_script(tmp_path):
    """-1/+1 labels name the labels and the relabelling; a folder is called a folder."""
    path = tmp_path / "pm.csv"
    path.write_text(table(["-1", "1"]))
    result = run_script("train.py", *CSV, f"data.path={path}", f"hydra.run.dir={tmp_path / 'a'}")
    line = error_line(result)
    assert "holds -1 (line 2); relabel them -1 as 0, 1 as 1" in line, line
    assert "data.num_classes" not in line
    result = run_script(
        "train.py", *CSV, f"data.path={tmp_path}", f"hydra.run.dir={tmp_path / 'b'}"
    )
    assert f"data.path={tmp_path} is a folder; give one CSV file (the folder holds pm.csv)" in (
        error_line(result)
    )


@pytest.mark.parametrize("kind", ["csv", "arrays"])
def test_an_unreadable_data_file_is_one_clear_line(tmp_path, kind):
    prefix = without_root_override()
    if kind == "csv":
        path = tmp_path / "locked.csv"
        path.write_text(table(["0", "1"]))
        args = [*CSV, f"data.path={path}"]
    else:
        path = tmp_path / "locked.npz"
        np.savez(path, X=np.zeros((40, 2)), y=np.arange(40) % 2)
        args = ["+experiment=tiny_binary", f"data.path={path}", *QUIET]
    path.chmod(0)
    command = [*prefix, sys.executable, str(REPO / "scripts" / "train.py"), *args,
               f"hydra.run.dir={tmp_path / 'run'}"]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=script_env(), capture_output=True, text=True)
    assert f"data.path={path} cannot be read: permission denied" in error_line(result)
    if (tmp_path / "run" / "summary.json").exists():
        assert read_summary(tmp_path / "run")["status"] == "failed"


def test_float_class_labels_are_named_with_the_fix_that_trains(tmp_path):
    """y of 0.0 and 1.0 is read as regression values: a classifier is told what was seen and to
    set data.task=classification, and that setting trains."""
    x, y = breast_cancer()
    path = tmp_path / "floats.npz"
    np.savez(path, X=x, y=y.astype(np.float32))
    args = ["+experiment=tiny_binary", f"data.path={path}", "trainer.max_epochs=1", *QUIET]
    line = error_line(run_script("train.py", *args, f"hydra.run.dir={tmp_path / 'a'}"))
    assert "float targets (y, float32) with only whole numbers (0.0, 1.0)" in line, line
    assert "data.num_classes=" not in line, line  # setting it is no fix
    fix = re.search(r"set (data\.task=\w+)\.$", line)
    assert fix and fix.group(1) == "data.task=classification", line
    result = run_script("train.py", *args, fix.group(1), f"hydra.run.dir={tmp_path / 'b'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert read_summary(tmp_path / "b")["status"] == "completed"
