"""data=arrays: array files of any shape, read safely, checked, split, standardised, and their
sizes handed to the net's config."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from conftest import QUIET, compose_train, read_summary, run_script

from trainkit.data import ArrayDataModule
from trainkit.data.arrays import file_facts, read_arrays, to_array_data
from trainkit.errors import TrainkitError


def signals(n: int = 240, channels: int = 2, length: int = 32, classes: int = 4, seed: int = 0):
    """Noisy sine waves whose frequency is the class: (N, C, L) float32 and int labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    t = np.linspace(0, 1, length)
    phase = rng.uniform(0, 2 * np.pi, (n, channels, 1))
    x = np.sin(2 * np.pi * (y[:, None, None] + 1) * 2 * t + phase)
    x = x + 0.2 * rng.standard_normal((n, channels, length))
    return (10 * x + 5).astype(np.float32), y


@pytest.mark.parametrize("form", ["npz", "npy_folder", "npy_pair", "pt_dict", "pt_pair"])
def test_every_file_form_gives_the_same_arrays(tmp_path, form):
    x, y = signals()
    if form == "npz":
        path = tmp_path / "s.npz"
        np.savez(path, X=x, y=y)
    elif form == "npy_folder":
        path = tmp_path / "folder"
        path.mkdir()
        np.save(path / "X.npy", x)
        np.save(path / "y.npy", y)
    elif form == "npy_pair":
        path = tmp_path / "train_X.npy"
        np.save(path, x)
        np.save(tmp_path / "train_y.npy", y)
    elif form == "pt_dict":
        path = tmp_path / "s.pt"
        torch.save({"X": torch.from_numpy(x), "y": torch.from_numpy(y)}, path)
    else:
        path = tmp_path / "s.pt"
        torch.save((torch.from_numpy(x), torch.from_numpy(y)), path)
    got_x, got_y = read_arrays(path)
    assert np.array_equal(got_x, x) and np.array_equal(got_y, y)


def test_kind_is_inferred_from_the_targets_and_can_be_overridden():
    x = np.zeros((6, 3), dtype=np.float32)
    assert to_array_data(x, np.array([0, 1, 2, 0, 1, 2])).classification
    assert to_array_data(x, np.array([True, False] * 3)).classification
    named = to_array_data(x, np.array(["cat", "dog", "cat", "ant", "dog", "ant"]))
    assert named.classification and named.class_names == ["ant", "cat", "dog"]
    assert named.y.tolist() == [1, 2, 1, 0, 2, 0]
    values = to_array_data(x, np.linspace(0, 1, 6))
    assert not values.classification and values.y.shape == (6, 1)
    forced = to_array_data(x, np.array([0.0, 1.0, 2.0, 0.0, 1.0, 2.0]), task="classification")
    assert forced.classification and forced.y.dtype == np.int64
    as_values = to_array_data(x, np.array([0, 1, 2, 0, 1, 2]), task="regression")
    assert not as_values.classification and as_values.y.dtype == np.float32


def write(tmp_path, name: str, **arrays) -> str:
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


BAD_FILES = {
    "keys": (
        lambda p: write(p, "a.npz", inputs=np.zeros((4, 2)), y=np.zeros(4)),
        "its arrays: inputs, y",
    ),
    "rows": (
        lambda p: write(p, "a.npz", X=np.zeros((5, 2)), y=np.zeros(4, int)),
        "X has 5 rows but y has 4",
    ),
    "objects": (
        lambda p: write(p, "a.npz", X=np.array([{"a": 1}, {"b": 2}], dtype=object), y=np.zeros(2)),
        "does not unpickle",
    ),
    "one_hot": (lambda p: write(p, "a.npz", X=np.zeros((4, 2)), y=np.eye(4, dtype=int)), "one-hot"),
    "negative": (
        lambda p: write(p, "a.npz", X=np.zeros((4, 2)), y=np.array([0, 1, -1, 1])),
        "class labels must be 0..C-1",
    ),
    "text_inputs": (
        lambda p: write(p, "a.npz", X=np.array([["a"], ["b"]]), y=np.array([0, 1])),
        "inputs must be numbers",
    ),
    "empty": (
        lambda p: write(p, "a.npz", X=np.zeros((0, 2)), y=np.zeros(0, int)),
        "holds no samples",
    ),
    "suffix": (lambda p: str((p / "a.csv").write_text("1,2\n") and p / "a.csv"), "data=csv"),
    "truncated": (
        lambda p: str((p / "a.npz").write_bytes(b"PK\x03\x04 not really") and p / "a.npz"),
        "cannot be read",
    ),
    "lonely_npy": (
        lambda p: str(np.save(p / "inputs.npy", np.zeros((3, 2)))) and str(p / "inputs.npy"),
        "where are the targets",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_malformed_file_gets_one_clear_error(tmp_path, case):
    make, fragment = BAD_FILES[case]
    path = make(tmp_path)
    with pytest.raises(TrainkitError, match=fragment):
        ArrayDataModule(path=path).setup()


def test_a_pickled_object_in_a_pt_file_is_never_run(tmp_path):
    ran = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(ran), "w"))

    path = tmp_path / "evil.pt"
    with path.open("wb") as handle:
        torch.save({"X": torch.zeros(2, 2), "y": Payload()}, handle, pickle_module=pickle)
    with pytest.raises(TrainkitError, match="weights_only"):
        read_arrays(path)
    assert not ran.exists()


def test_sizes_are_read_off_the_file(tmp_path):
    x, y = signals(channels=3, length=20)
    facts = file_facts(write(tmp_path, "s.npz", X=x, y=y))
    assert facts["num_features"] == 60 and facts["in_channels"] == 3 and facts["length"] == 20
    assert (
        facts["num_classes"] == 4 and facts["image_size"] is None and facts["num_targets"] is None
    )
    images = file_facts(write(tmp_path, "i.npz", X=np.zeros((8, 1, 6, 6)), y=np.arange(8) % 2))
    assert images["image_size"] == 6 and images["height"] == 6 and images["in_channels"] == 1
    table = file_facts(write(tmp_path, "t.npz", X=np.zeros((8, 5)), y=np.linspace(0, 1, 8)))
    assert table["num_features"] == 5 and table["in_channels"] is None
    assert table["num_targets"] == 1 and table["num_classes"] is None


def test_sequences_are_standardised_per_channel_or_per_feature_on_training_rows(tmp_path):
    x, y = signals(channels=2, length=16)
    x[:, 1] = x[:, 1] * 100 + 50  # the second channel on another scale
    path = write(tmp_path, "s.npz", X=x, y=y)
    per_channel = ArrayDataModule(path=path, seed=3)
    per_channel.setup()
    train_x = per_channel.splits["train"][0].numpy()
    assert per_channel.feature_mean.shape == (1, 2, 1)
    np.testing.assert_allclose(train_x.mean(axis=(0, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(train_x.std(axis=(0, 2)), 1, atol=1e-3)
    assert abs(per_channel.splits["val"][0].numpy().mean()) > 1e-6  # val: training statistics
    per_feature = ArrayDataModule(path=path, seed=3, standardize="feature")
    per_feature.setup()
    assert per_feature.feature_mean.shape == (1, 2, 16)
    np.testing.assert_allclose(per_feature.splits["train"][0].numpy().mean(axis=0), 0, atol=1e-4)
    with pytest.raises(TrainkitError, match="data.standardize must be"):
        ArrayDataModule(path=path, standardize="rows")


def test_split_is_stratified_and_seeded(tmp_path):
    x, y = signals(n=400)
    path = write(tmp_path, "s.npz", X=x, y=y)
    first, again, other = (ArrayDataModule(path=path, seed=s) for s in (0, 0, 1))
    for dm in (first, again, other):
        dm.setup()
    for split in ("train", "val", "test"):
        assert torch.equal(first.splits[split][1], again.splits[split][1])
        counts = torch.bincount(first.splits[split][1], minlength=4)
        assert counts.max() - counts.min() <= 1, (split, counts)
    assert not torch.equal(first.splits["train"][0], other.splits["train"][0])


def test_declared_sizes_are_checked(tmp_path):
    x, y = signals(channels=2)
    path = write(tmp_path, "s.npz", X=x, y=y)
    with pytest.raises(TrainkitError, match="data.in_channels is 3 .* set data.in_channels=2"):
        ArrayDataModule(path=path, in_channels=3).setup()
    with pytest.raises(TrainkitError, match="data.max_shift shifts images"):
        ArrayDataModule(path=path, max_shift=1).setup()


def test_a_folder_of_x_and_y_trains_from_the_command_line(tmp_path):
    """data.path may name a folder holding X.npy and y.npy, as the reader accepts."""
    x, y = signals()
    folder = tmp_path / "arrays"
    folder.mkdir()
    np.save(folder / "X.npy", x)
    np.save(folder / "y.npy", y)
    net = "model.net={_target_:tiny.mlp,in_features:${data.num_features},out_features:4}"
    run_dir = tmp_path / "run"
    result = run_script(
        "train.py", "data=arrays", f"data.path={folder}", net, "trainer.max_epochs=1",
        *QUIET, f"hydra.run.dir={run_dir}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_summary(run_dir)["status"] == "completed"


def test_a_sequence_experiment_trains_through_data_arrays_alone(tmp_path):
    """Only a file and a net: the sizes the net needs come from the data config."""
    x, y = signals()
    path = write(tmp_path, "signals.npz", X=x, y=y)
    net = (
        "model.net={_target_:tiny.TinyConv1d,in_channels:${data.in_channels},"
        "num_classes:${data.num_classes}}"
    )
    run_dir = tmp_path / "run"
    result = run_script(
        "train.py", "data=arrays", f"data.path={path}", net, "trainer.max_epochs=6",
        "model.optimizer.lr=0.01",
        *QUIET, f"hydra.run.dir={run_dir}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["metrics"]["test/acc"] > 0.5


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["model.net={_target_:tiny.TinyCNN,in_channels:${data.in_channels},"
          "image_size:${data.image_size},num_classes:${data.num_classes}}"],
         "model.net.image_size takes data.image_size, which is null for this data"),
        (["data.path=missing.npz", "model.net={_target_:tiny.mlp,in_features:3,out_features:2}"],
         "data.path not found: missing.npz"),
    ],
)  # fmt: skip
def test_command_line_mistakes_with_arrays_are_one_line(tmp_path, overrides, fragment):
    x, y = signals()
    path = write(tmp_path, "signals.npz", X=x, y=y)
    result = run_script("train.py", "data=arrays", f"data.path={path}", *overrides, *QUIET,
                        f"hydra.run.dir={tmp_path / 'run'}")  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], lines
    assert not (tmp_path / "run").exists()


def test_the_net_sees_the_sizes_by_interpolation(tmp_path):
    x, y = signals(channels=3, length=24)
    path = write(tmp_path, "s.npz", X=x, y=y)
    cfg = compose_train(
        tmp_path / "run",
        ["data=arrays", f"data.path={path}",
         "model.net={_target_:tiny.TinyConv1d,in_channels:${data.in_channels},"
         "num_classes:${data.num_classes}}"],
    )  # fmt: skip
    assert cfg.model.net.in_channels == 3 and cfg.model.num_classes == 4
    assert cfg.data.length == 24 and cfg.data.num_features == 72
