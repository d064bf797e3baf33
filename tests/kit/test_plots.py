"""The confusion matrix images: their sizes, colours that follow the values, the numbers in the
cells. Cells are found from the pixels (a diagonal matrix's dark squares), not from the layout
code, so that these tests judge the images alone."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from trainkit.report.plots import confusion_images


def diagonal_heavy(n: int, hits: int = 90, seed: int = 0) -> np.ndarray:
    """Mostly right, a few mistakes in some cells, zeros in others."""
    rng = np.random.default_rng(seed)
    m = rng.integers(0, 4, (n, n)) * (rng.random((n, n)) < 0.5)
    np.fill_diagonal(m, hits)
    return m


def grid(n: int, class_names=(), title: str = "") -> tuple[int, int, float]:
    """(x, y) of the inside of the top left cell and the cell size, for matrices of n classes.

    The layout depends on the class names and the title, not on the counts: a diagonal matrix's
    cells are the only strongly blue pixels, their corners are the grid's.
    """
    image = confusion_images(np.eye(n, dtype=int) * 50, class_names, title)["counts"]
    r, g, b = (image[..., k].astype(int) for k in range(3))
    ys, xs = np.nonzero(b - r > 60)
    cell = (xs.max() - xs.min() + 2) / n
    assert (ys.max() - ys.min() + 2) / n == pytest.approx(cell)
    return int(xs.min()), int(ys.min()), cell


def cell_box(where: tuple[int, int, float], i: int, j: int) -> tuple[slice, slice]:
    """Rows and columns of cell (i, j)'s inside (within the separators)."""
    x, y, cell = where
    top, left = round(y + i * cell), round(x + j * cell)
    inside = round(cell) - 1
    return slice(top, top + inside), slice(left, left + inside)


def background(image: np.ndarray, where, i: int, j: int) -> np.ndarray:
    """A cell's colour, read from a band along its top, where no text reaches."""
    rows, cols = cell_box(where, i, j)
    _, _, cell = where
    band = image[rows.start + 2 : rows.start + max(3, round(0.15 * cell)), cols]
    return np.median(band.reshape(-1, 3), axis=0)


def darkness(rgb: np.ndarray) -> float:
    return 765 - float(np.sum(rgb))


@pytest.mark.parametrize("n", [2, 3, 10, 20, 30, 50])
def test_sizes(n):
    names = [f"class {i}" for i in range(n)]
    images = confusion_images(diagonal_heavy(n), names, title="val, epoch 12")
    assert set(images) == {"counts", "recall"}
    counts, recall = images["counts"], images["recall"]
    assert counts.dtype == recall.dtype == np.uint8
    assert counts.ndim == 3 and counts.shape[2] == 3
    assert counts.shape == recall.shape
    height, width, _ = counts.shape
    if n <= 20:  # fits a TensorBoard card without shrinking much
        assert 320 <= width <= 640
        assert height <= 720
    else:
        assert width <= 1200 and height <= 1200


def test_grid_cells_are_big_enough_to_read():
    for n in (2, 10, 20):
        _, _, cell = grid(n)
        assert cell >= 22


@pytest.mark.parametrize("view", ["counts", "recall"])
def test_colour_follows_the_value(view):
    n = 6
    m = diagonal_heavy(n)
    where = grid(n)
    image = confusion_images(m, ())[view]
    for i in range(n):
        zeros = [j for j in range(n) if m[i, j] == 0]
        assert zeros
        for j in zeros:
            assert (
                darkness(background(image, where, i, i))
                > darkness(background(image, where, i, j)) + 200
            )
        # blue, not grey: the diagonal's blue channel stands out
        r, _, b = background(image, where, i, i)
        assert b - r > 60
    # more is darker: a cell with 3 mistakes is darker than one with 0 (counts: on a scale to
    # the largest count)
    if view == "counts":
        m = np.array([[90, 30, 0], [0, 90, 60], [0, 0, 90]])
        image = confusion_images(m)[view]
        where = grid(3)
        shades = [darkness(background(image, where, *ij)) for ij in [(0, 2), (0, 1), (1, 2)]]
        assert shades[0] < shades[1] < shades[2]


def test_recall_colour_does_not_depend_on_row_totals():
    """Rows with the same proportions have the same colours; the scale is fixed at 0..100%."""
    m = np.array([[10, 30, 60], [100, 300, 600], [50, 50, 0]])
    where = grid(3)
    recall = confusion_images(m)["recall"]
    for j in range(3):
        assert np.array_equal(background(recall, where, 0, j), background(recall, where, 1, j))
    # the same 50% in another matrix, whose largest share is 50%, is no darker
    other = confusion_images(np.array([[50, 50, 0], [50, 50, 0], [0, 50, 50]]))["recall"]
    assert np.array_equal(background(other, where, 0, 0), background(recall, where, 2, 0))
    # whereas the counts view scales to the largest count: the rows differ there
    counts = confusion_images(m)["counts"]
    assert darkness(background(counts, where, 1, 2)) > darkness(background(counts, where, 0, 2))


def test_a_class_without_samples():
    m = np.array([[5, 1, 0], [0, 0, 0], [2, 0, 7]])
    names = ["cat", "dog", "bird"]
    where = grid(3, names, "val, epoch 0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        images = confusion_images(m, names, "val, epoch 0")
        blank = confusion_images(np.zeros((3, 3), dtype=int), names, "val, epoch 0")
    recall = images["recall"]
    assert recall.dtype == np.uint8
    for j in range(3):
        r, g, b = background(recall, where, 1, j)
        assert r == g == b and 200 < r < 250  # grey: no colour for a share of nothing
        rows, cols = cell_box(where, 1, j)
        assert (recall[rows, cols] < 200).any()  # and a dash in it
    # the other rows are unaffected: 5 of 6 is darker than 1 of 6
    assert darkness(background(recall, where, 0, 0)) > darkness(background(recall, where, 0, 1))
    assert blank["counts"].shape == blank["recall"].shape == recall.shape


def changed_pixels(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    assert a.shape == b.shape
    return np.nonzero((a != b).any(axis=2))


@pytest.mark.parametrize("n", [3, 10, 20])
def test_a_count_is_drawn_in_its_cell(n):
    """One count one higher: only its number changes (next to 100000 the colour stays)."""
    m = diagonal_heavy(n, hits=100_000)
    names = [f"class {i}" for i in range(n)]
    where = grid(n, names, "val")
    i, j = 1, n - 1
    other = m.copy()
    other[i, j] += 1
    a = confusion_images(m, names, "val")["counts"]
    b = confusion_images(other, names, "val")["counts"]
    assert np.array_equal(background(a, where, i, j), background(b, where, i, j))
    ys, xs = changed_pixels(a, b)
    assert len(ys) > 10  # a different number
    rows, cols = cell_box(where, i, j)
    _, _, cell = where
    assert rows.start + 0.15 * cell <= ys.min() and ys.max() < rows.stop - 0.15 * cell
    assert cols.start <= xs.min() and xs.max() < cols.stop


def test_a_share_is_drawn_in_its_row():
    """In the recall view one count moves the whole row's shares, and nothing else."""
    n = 5
    m = diagonal_heavy(n)
    where = grid(n)
    other = m.copy()
    other[2, 0] += 20
    ys, xs = changed_pixels(confusion_images(m)["recall"], confusion_images(other)["recall"])
    rows_2, _ = cell_box(where, 2, 0)
    _, cols_0 = cell_box(where, 2, 0)
    _, cols_last = cell_box(where, 2, n - 1)
    assert rows_2.start <= ys.min() and ys.max() < rows_2.stop
    assert cols_0.start <= xs.min() and xs.max() < cols_last.stop
    # both the diagonal's share and the new mistake's changed
    for j in (0, 2):
        _, cols = cell_box(where, 2, j)
        assert ((cols.start <= xs) & (xs < cols.stop)).sum() > 10


@pytest.mark.parametrize("n,count", [(2, 987_654), (10, 123_456), (20, 99_999), (30, 54_321)])
def test_large_counts_stay_inside_their_cells(n, count):
    """Big numbers shrink or abbreviate; they never touch the cell's edges."""
    m = np.eye(n, dtype=int) * count
    m[0, 1] = count - 1  # a light cell with a large number too
    where = grid(n)
    image = confusion_images(m)["counts"]
    for i, j in [(0, 0), (0, 1), (n - 1, n - 1)]:
        rows, cols = cell_box(where, i, j)
        inside = image[rows, cols].astype(int)
        colour = background(image, where, i, j)
        edges = np.concatenate([inside[:, 0], inside[:, -1], inside[0], inside[-1]])
        assert np.abs(edges - colour).max() <= 1
        assert np.abs(inside - colour).max() > 100  # something is written there


def test_text_contrasts_with_its_cell():
    """White numbers on dark cells, dark numbers on light ones."""
    m = np.array([[100, 40], [3, 90]])
    where = grid(2)
    image = confusion_images(m)["counts"]
    dark_cell = image[cell_box(where, 0, 0)].reshape(-1, 3).astype(int)
    light_cell = image[cell_box(where, 1, 0)].reshape(-1, 3).astype(int)
    assert darkness(background(image, where, 0, 0)) > 400
    assert dark_cell.sum(axis=1).max() > 700  # white text
    assert darkness(background(image, where, 1, 0)) < 100
    assert light_cell.sum(axis=1).min() < 200  # dark text


def test_class_names():
    m = diagonal_heavy(3)
    numbered = confusion_images(m)
    named = confusion_images(m, ["cat", "dog", "bird"])
    assert not np.array_equal(numbered["counts"], named["counts"])
    # names for the wrong number of classes are not used
    assert np.array_equal(confusion_images(m, ["cat", "dog"])["counts"], numbered["counts"])
    # long names are cut: what follows their first characters does not show
    long_a = confusion_images(m, ["a" * 30, "a rather long class name", "b"])
    long_b = confusion_images(m, ["a" * 40, "a rather long class label", "b"])
    assert np.array_equal(long_a["counts"], long_b["counts"])


def test_title_goes_above_the_grid():
    m = diagonal_heavy(4)
    _, y, _ = grid(4, (), "val, epoch 1")
    assert grid(4, (), "val, epoch 2")[1] == y
    a = confusion_images(m, (), "val, epoch 1")
    b = confusion_images(m, (), "val, epoch 2")
    for view in ("counts", "recall"):
        ys, _ = changed_pixels(a[view], b[view])
        assert len(ys) and ys.max() < y
    assert not np.array_equal(a["counts"], a["recall"])


def test_counts_of_other_types():
    """A torch matrix's numpy() may be int64 or float; both draw the same."""
    m = diagonal_heavy(4)
    ints = confusion_images(m)
    floats = confusion_images(m.astype(np.float32))
    for view in ints:
        assert np.array_equal(ints[view], floats[view])
    with pytest.raises(ValueError, match="square"):
        confusion_images(np.zeros((2, 3), dtype=int))
