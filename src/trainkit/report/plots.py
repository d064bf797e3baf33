"""Images for TensorBoard.

The confusion matrix is drawn straight into a pixel array (Pillow rasterises the text): it is
logged every time validation improves, and a matplotlib figure of it costs over 100 ms. The
learning-rate plot, drawn once per range test, uses matplotlib's object API (no global pyplot
state).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

# matplotlib's "Blues" colour map: ColorBrewer's nine blues, interpolated linearly.
_BLUES = np.array(
    [
        [int(code[i : i + 2], 16) for i in (0, 2, 4)]
        for code in (
            "f7fbff", "deebf7", "c6dbef", "9ecae1", "6baed6", "4292c6", "2171b5", "08519c", "08306b"
        )
    ],
    dtype=np.float64,
)  # fmt: skip
_WHITE = (255, 255, 255)
_INK = (33, 33, 33)  # labels, and numbers on light cells
_MUTED = (150, 150, 150)  # zeros and empty rows: there, but not competing with real numbers
_NO_SAMPLES = (236, 236, 236)  # recall cells of a class without samples
_SEPARATOR = (222, 222, 222)
_FRAME = (170, 170, 170)

_PAD = 10  # around the whole image
_GAP = 6  # between the grid, its labels and the axis titles
_MIN_NUMBER = 9  # smallest font size for the numbers in the cells, before abbreviating them
_MAX_NAME = 14  # characters of a class name shown
_WIDTH_MIN = 320
_WIDTH_UP_TO_20 = 640  # image width aimed at up to 20 classes (a TensorBoard card is ~300-450)
_WIDTH_MAX = 1180


@functools.lru_cache(maxsize=1)
def _font_path() -> str | None:
    try:
        return font_manager.findfont("DejaVu Sans", fallback_to_default=False)
    except ValueError:
        return None


@functools.lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans at `size` pixels, or Pillow's own font where it cannot be loaded."""
    path = _font_path()
    if path is not None:
        try:
            # Basic layout: Latin text needs no shaping, and it measures text three times faster.
            return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)
        except OSError:
            pass
    try:
        return ImageFont.load_default(size)  # Pillow >= 10.1: a scalable font
    except TypeError:
        return ImageFont.load_default()


@functools.lru_cache(maxsize=64)
def _digit_rows(size: int) -> tuple[int, float]:
    """Where digits sit in a line of text: top row of their ink, and their middle row."""
    _, top, _, baseline = _font(size).getbbox("0")
    return top, (top + baseline) / 2


@functools.lru_cache(maxsize=4096)
def _glyph(size: int, char: str) -> tuple[np.ndarray, int, int, float]:
    """One character's coverage mask, its offsets from the pen position, and its advance.

    Part of the font cache. All text is put together from these: with the basic layout, Pillow
    itself places glyphs at whole-pixel advances without kerning, so the result is the same as
    drawing the string, at a few microseconds a glyph instead of 50 us a string plus 10 a glyph.
    """
    font = _font(size)
    left, top, right, bottom = font.getbbox(char)
    if right <= left or bottom <= top:  # a space
        return np.zeros((0, 0), dtype=np.uint8), 0, 0, font.getlength(char)
    image = Image.new("L", (right - left, bottom - top))
    ImageDraw.Draw(image).text((-left, -top), char, font=font, fill=255)
    mask = np.array(image)
    mask.setflags(write=False)  # shared by every call
    return mask, left, top, font.getlength(char)


class _Text(NamedTuple):
    mask: np.ndarray  # uint8 coverage of the ink, 0..255
    middle: float  # row of the middle of a digit's height (the line's visual centre)


def _text(text: str, size: int) -> _Text:
    """A line of text as a coverage mask, cropped to its ink (but never below the digits' top)."""
    digit_top, middle = _digit_rows(size)
    pen, placed = 0.0, []
    x0, x1 = 1 << 30, -(1 << 30)
    y0 = y1 = digit_top
    for char in text:
        mask, left, top, advance = _glyph(size, char)
        if mask.size:
            x = round(pen) + left
            placed.append((x, top, mask))
            x0, x1 = min(x0, x), max(x1, x + mask.shape[1])
            y0, y1 = min(y0, top), max(y1, top + mask.shape[0])
        pen += advance
    if not placed:
        return _Text(np.zeros((1, 1), dtype=np.uint8), 0.0)
    out = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    for x, y, mask in placed:
        part = out[y - y0 : y - y0 + mask.shape[0], x - x0 : x - x0 + mask.shape[1]]
        np.maximum(part, mask, out=part)
    return _Text(out, middle - y0)


def _width(text: str, size: int) -> float:
    """Width of a line of text as the sum of its advances: its ink plus a pixel or so of side
    bearing at each end."""
    return sum(_glyph(size, char)[3] for char in text)


def _cut(text: str, size: int, width: float) -> str:
    """`text`, shortened with an ellipsis until it is at most `width` pixels wide."""
    if _width(text, size) <= width:
        return text
    while len(text) > 1 and _width(text + "…", size) > width:
        text = text[:-1].rstrip()
    return text + "…"


def _ramp(background: np.ndarray, ink: np.ndarray, levels: int = 256) -> np.ndarray:
    """(..., levels, 3) uint8 colours: background blended towards ink, for coverage 0..levels-1."""
    steps = np.arange(levels, dtype=np.float32)[:, None] / (levels - 1)
    mixed = background[..., None, :] + (ink - background)[..., None, :] * steps
    return np.rint(mixed).astype(np.uint8)


_ON_WHITE = _ramp(np.array(_WHITE, np.float32), np.array(_INK, np.float32))


def _stamp(canvas: np.ndarray, text: _Text | np.ndarray, x: int, y: int) -> None:
    """Darken `canvas` with text in ink, the mask's top left corner at (x, y), clipped to the
    canvas. For the white margins, where texts that touch stay legible.
    """
    mask = text.mask if isinstance(text, _Text) else text
    left, top = max(x, 0), max(y, 0)
    right, bottom = min(x + mask.shape[1], canvas.shape[1]), min(y + mask.shape[0], canvas.shape[0])
    if right <= left or bottom <= top:
        return
    part = canvas[top:bottom, left:right]
    np.minimum(part, _ON_WHITE[mask[top - y : bottom - y, left - x : right - x]], out=part)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of sRGB colours (..., 3) in 0..255."""
    c = rgb / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def _shorten(name: str) -> str:
    """A class name cut to _MAX_NAME characters, the last an ellipsis."""
    return name if len(name) <= _MAX_NAME else name[: _MAX_NAME - 1].rstrip() + "…"


def _abbreviations(count: int) -> list[str]:
    """Shorter spellings of a count, best first: 1234 -> ["1.2k", "1k"], 56789 -> ["57k"]."""
    out = []
    for unit, suffix in ((1_000, "k"), (1_000_000, "M"), (1_000_000_000, "G")):
        value = count / unit
        if count >= unit * 0.9995 and value < 999.5:
            if value < 9.95:
                out.append(f"{value:.1f}{suffix}")
            out.append(f"{value:.0f}{suffix}")
    return out


def _percent(fraction: float) -> str:
    """A share of a row in whole percent; never "0" or "100" for what is not exactly that."""
    if fraction == 0:
        return "0"
    value = round(100 * fraction)
    if value == 0:
        return "<1"
    return "99" if value == 100 and fraction < 1 else str(value)


def _number_room(cell: int) -> int:
    """Width for a cell's number: the inside of the cell, less a pixel each side."""
    return cell - 3


def _fitting_size(widest: str, cell: int) -> int:
    """The font size for a cell's numbers: about 0.45 of the cell, smaller until `widest` fits,
    but no smaller than the numbers' minimum."""
    size = min(28, max(_MIN_NUMBER, round(0.45 * cell)))
    room = _number_room(cell)
    while size > _MIN_NUMBER and _width(widest, size) > room:
        size -= 1
    return size


class _Layout:
    """Sizes and positions shared by both views of one matrix."""

    def __init__(self, n: int, names: list[str], titles: list[str]) -> None:
        self.n = n
        name_size = 13 if n <= 12 else 12 if n <= 20 else 11
        axis_size, title_size = 13, 15
        self.axis_x = _text("predicted class", axis_size)
        self.axis_y = _text("true class", axis_size)
        axis_height = self.axis_x.mask.shape[0]
        name_width = max(_width(name, name_size) for name in names)

        # About 440 px of cells (TensorBoard shrinks wide images, and every pixel costs time
        # to write), and no smaller than 26 px up to 20 classes, where the numbers stay legible.
        limit = _WIDTH_UP_TO_20 if n <= 20 else _WIDTH_MAX
        left = _PAD + axis_height + _GAP + name_width + _GAP
        cell = min(110, max(26, round(440 / n)))
        cell = min(cell, max(26 if n <= 20 else 2, int(limit - left - _PAD) // n))
        if name_size > cell - 2:  # beyond ~50 classes: the names follow the cells down
            name_size = max(6, cell - 2)
            name_width = max(_width(name, name_size) for name in names)
            left = _PAD + axis_height + _GAP + name_width + _GAP
        self.cell = cell
        self.names = [_text(name, name_size) for name in names]
        self.rotate = name_width > cell - 4
        if self.rotate:
            self.names_x = [np.rot90(name.mask) for name in self.names]  # reads bottom to top
            names_height = max(mask.shape[0] for mask in self.names_x)
        else:
            self.names_x = [name.mask for name in self.names]
            above = max(name.middle for name in self.names)
            below = max(name.mask.shape[0] - name.middle for name in self.names)
            self.names_above = above
            names_height = round(above + below)

        grid = n * cell + 1
        content = round(left) + grid + _PAD
        title_width = max(_width(title, title_size) for title in titles)
        # Wider for a long title, up to the limit; then a smaller title font, then a cut one.
        width = max(content, _WIDTH_MIN, min(round(title_width) + 2 * _PAD, limit))
        while title_size > 11 and title_width > width - 2 * _PAD:
            title_size -= 1
            title_width = max(_width(title, title_size) for title in titles)
        self.title_size = title_size
        self.title_room = width - 2 * _PAD
        probe = _text("Hg()", title_size)  # the tallest a title gets
        self.title_middle = _PAD + probe.middle
        self.grid_x = round(left) + (width - content) // 2
        self.grid_y = _PAD + probe.mask.shape[0] + _GAP + 4
        self.names_y = self.grid_y + grid + _GAP
        self.axis_x_y = self.names_y + names_height + _GAP
        self.width = width
        self.height = self.axis_x_y + axis_height + _PAD
        self.grid = grid
        self.base = self._labels()

    def _labels(self) -> np.ndarray:
        """A white image with the class names and the axis titles."""
        canvas = np.full((self.height, self.width, 3), 255, dtype=np.uint8)
        cell, gx, gy, grid = self.cell, self.grid_x, self.grid_y, self.grid
        for i, name in enumerate(self.names):
            y = round(gy + i * cell + cell / 2 - name.middle)
            _stamp(canvas, name, gx - _GAP - name.mask.shape[1], y)
        for j, (name, mask) in enumerate(zip(self.names, self.names_x, strict=True)):
            if self.rotate:
                x, y = round(gx + j * cell + cell / 2 - name.middle), self.names_y
            else:
                x = gx + j * cell + (cell - mask.shape[1] + 1) // 2
                y = round(self.names_y + self.names_above - name.middle)
            _stamp(canvas, mask, x, y)
        axis = self.axis_x.mask
        x = min(max(gx + (grid - axis.shape[1]) // 2, _PAD), self.width - _PAD - axis.shape[1])
        _stamp(canvas, axis, x, self.axis_x_y)
        axis = np.rot90(self.axis_y.mask)
        y = min(max(gy + (grid - axis.shape[0]) // 2, _PAD), self.height - _PAD - axis.shape[0])
        _stamp(canvas, axis, _PAD, y)
        return canvas

    def canvas(self, title: str) -> np.ndarray:
        """The labelled image, titled: all but the cells."""
        canvas = self.base.copy()
        text = _text(_cut(title, self.title_size, self.title_room), self.title_size)
        width = text.mask.shape[1]
        x = min(max(self.grid_x + (self.grid - width) // 2, _PAD), self.width - _PAD - width)
        _stamp(canvas, text, x, round(self.title_middle - text.middle))
        return canvas


def _view(
    layout: _Layout,
    title: str,
    shade: np.ndarray,
    texts: list[list[str]],
    muted: np.ndarray,
    empty: np.ndarray,
    widest: str,
    percent: bool,
) -> np.ndarray:
    """One view: cells coloured by `shade` (0..1), each showing its text."""
    n, cell = layout.n, layout.cell
    canvas = layout.canvas(title)
    xs = np.linspace(0, 1, len(_BLUES))
    background = np.stack([np.interp(shade, xs, _BLUES[:, k]) for k in range(3)], axis=-1)
    background[empty] = _NO_SAMPLES
    background = np.rint(background)
    gx, gy = layout.grid_x, layout.grid_y
    grid = canvas[gy : gy + layout.grid, gx : gx + layout.grid]
    colours = background.astype(np.uint8)
    for i in range(n):  # a row of cells at a time: numpy broadcasts a pixel (3 bytes) slowly
        grid[i * cell : (i + 1) * cell, : n * cell] = np.repeat(colours[i], cell, axis=0)
    grid[::cell, :] = _SEPARATOR
    grid[:, ::cell] = _SEPARATOR
    grid[[0, -1], :] = _FRAME
    grid[:, [0, -1]] = _FRAME

    room = _number_room(cell)
    if cell - 1 < _MIN_NUMBER + 3:
        return canvas  # too many classes for numbers: the colours alone
    # The font fits the largest number the matrix can hold, so it keeps its size between epochs.
    size = _fitting_size(widest, cell)
    if percent:
        texts = [[t + "%" if t[0].isdigit() or t[0] == "<" else t for t in row] for row in texts]
    contrast_white = 1.05 / (_luminance(background) + 0.05)
    contrast_ink = (_luminance(background) + 0.05) / (_luminance(np.array(_INK, float)) + 0.05)
    ink = np.where((contrast_white > contrast_ink)[..., None], _WHITE, _INK).astype(np.float32)
    ink[muted] = _MUTED
    # 64 levels of coverage are plenty, and a quarter of the work of 256 for every cell.
    ramps = _ramp(background.astype(np.float32), ink, levels=64)
    # Each distinct text once: its mask, clipped to a cell's inside, and its offset there.
    placed: dict[str, tuple[np.ndarray, int, int] | None] = {}
    inside = cell - 1  # within the separators
    for i, row in enumerate(texts):
        y0 = gy + i * cell + 1
        for j, text in enumerate(row):
            if text not in placed:
                placed[text] = _place(_fit_text(text, size, room), inside)
            where = placed[text]
            if where is not None:
                mask, dx, dy = where
                x, y = gx + j * cell + 1 + dx, y0 + dy
                part = canvas[y : y + mask.shape[0], x : x + mask.shape[1]]
                ramps[i, j].take(mask, axis=0, out=part, mode="clip")  # faster than [mask]
    return canvas


def _place(label: _Text | None, inside: int) -> tuple[np.ndarray, int, int] | None:
    """A cell's label centred in a square of side `inside`: its mask, coverage in 64 levels and
    clipped to the square, and the mask's offset from the square's corner."""
    if label is None:
        return None
    h, w = label.mask.shape
    dx, dy = (inside - w) // 2, round((inside - 1) / 2 - label.middle)
    left, top = max(-dx, 0), max(-dy, 0)
    right, bottom = min(w, inside - dx), min(h, inside - dy)
    if right <= left or bottom <= top:
        return None
    return label.mask[top:bottom, left:right] >> 2, dx + left, dy + top


def _fit_text(text: str, size: int, room: float) -> _Text | None:
    """`text` at `size` if it fits in `room` pixels; else a pixel smaller, else abbreviated (a
    count), down to 7 px; None if nothing fits."""
    options = [(text, size), (text, max(size - 1, _MIN_NUMBER - 1))]
    if text.isdigit():
        shorter = _abbreviations(int(text))
        options += [(s, font) for font in range(_MIN_NUMBER, _MIN_NUMBER - 3, -1) for s in shorter]
    for candidate, font in options:
        if _width(candidate, font) <= room + 2:  # the ink is narrower by the side bearings
            label = _text(candidate, font)
            if label.mask.shape[1] <= room:
                return label
    return None


def confusion_images(
    matrix: np.ndarray, class_names: Sequence[str] = (), title: str = ""
) -> dict[str, np.ndarray]:
    """A confusion matrix drawn two ways, as (height, width, 3) uint8 RGB images.

    `matrix` holds counts, rows the true classes and columns the predicted ones. "counts" shows
    them, coloured on a white-to-blue scale up to the largest; "recall" shows each row as
    percentages of the class's samples (the diagonal is the per-class recall), coloured on a fixed
    0..100% scale so that epochs compare. Both views have the same size. `class_names` are used
    when there is one per class, else the classes are numbered from 0.
    """
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"a confusion matrix is square and not empty, got shape {m.shape}")
    if not np.issubdtype(m.dtype, np.integer):
        m = np.rint(m)
    m = m.astype(np.int64)
    n = m.shape[0]
    if len(class_names) == n:
        names = [_shorten(str(name)) for name in class_names]
    else:
        names = [str(i) for i in range(n)]
    head = f"{title} · " if title else ""
    titles = {"counts": head + "counts", "recall": head + "recall (rows sum to 100%)"}
    layout = _Layout(n, names, list(titles.values()))

    totals = m.sum(axis=1)
    no_samples = np.zeros(m.shape, dtype=bool)
    counts = _view(
        layout,
        titles["counts"],
        m / max(int(m.max()), 1),
        [[str(v) for v in row] for row in m.tolist()],
        m == 0,
        no_samples,
        widest=str(max(int(totals.max()), int(m.max()), 0)),
        percent=False,
    )

    fractions = np.divide(m, totals[:, None], out=np.zeros(m.shape), where=totals[:, None] > 0)
    empty = np.broadcast_to((totals == 0)[:, None], m.shape)
    texts = [
        ["–" if total == 0 else _percent(p) for p in row]
        for total, row in zip(totals.tolist(), fractions.tolist(), strict=True)
    ]
    # A percent sign where it fits at a size close to that of the bare numbers.
    bare, signed = _fitting_size("100", layout.cell), _fitting_size("100%", layout.cell)
    percent = _width("100%", signed) <= _number_room(layout.cell) and signed >= min(bare, 12)
    recall = _view(
        layout,
        titles["recall"],
        fractions,
        texts,
        (m == 0) | empty,
        empty,
        widest="100%" if percent else "100",
        percent=percent,
    )
    return {"counts": counts, "recall": recall}


def lr_find_figure(
    lrs: Sequence[float], losses: Sequence[float], suggestion: float | None
) -> Figure:
    """Loss against learning rate from the range test, with the suggested rate marked."""
    fig = Figure(figsize=(5, 3.5), dpi=80)
    ax = fig.add_subplot()
    ax.plot(lrs, losses)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss (smoothed)")
    if suggestion is not None:
        ax.axvline(suggestion, color="red", linestyle="--", label=f"suggested {suggestion:.2e}")
        ax.legend()
    fig.tight_layout()
    return fig
