"""Finding, opening and decoding the files trainkit reads data from (standard library only).

Array files (data.path), CSV tables (data.path) and predict.py's input_csv are located and read
here, so a missing, unreadable or wrongly encoded file is refused with the same words and fix.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from trainkit.errors import TrainkitError

SAVE_UTF8 = "save it as UTF-8 (in Excel: Save As > CSV UTF-8)"


def locate(path: str | Path, key: str) -> Path:
    """`path` with ~ expanded, known to exist; else a TrainkitError naming `key` and the fix."""
    file = Path(path).expanduser()
    try:
        file.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise TrainkitError(
            f"{key} not found: {file} (relative paths are taken from {Path.cwd()})."
        ) from None
    except OSError as exc:
        raise unreadable(file, exc, key) from None
    return file


def unreadable(file: Path, exc: OSError, key: str) -> TrainkitError:
    """An operating system's refusal to open `file`, said with the fix."""
    if isinstance(exc, PermissionError):
        return TrainkitError(
            f"{key}={file} cannot be read: permission denied for this user; make it readable "
            f"(e.g. chmod a+r {file}, and a+x on its folders) or copy it somewhere readable."
        )
    return TrainkitError(f"{key}={file} cannot be read ({exc.strerror or exc}).")


def folder_contents(folder: Path, suffixes: tuple[str, ...]) -> str:
    """What a folder holds of the files with `suffixes`, for a message: names or 'no such file'."""
    try:
        found = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in suffixes)
    except OSError:
        return "files that cannot be listed"
    if not found:
        return f"no {' or '.join(suffixes)} file"
    return ", ".join(found[:8]) + (f" and {len(found) - 8} more" if len(found) > 8 else "")


def read_rows(path: str | Path, key: str) -> tuple[Path, list[int], list[list[str]]]:
    """The file, its non-blank rows and the line each row starts on; `key` names the setting."""
    file = locate(path, key)
    if file.is_dir():
        raise TrainkitError(
            f"{key}={file} is a folder; give one CSV file (the folder holds "
            f"{folder_contents(file, ('.csv', '.tsv', '.txt'))})."
        )
    if not file.is_file():
        raise TrainkitError(f"{key}={file} is not a regular file (a pipe or device?); save it.")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise unreadable(file, exc, key) from None
    reader = csv.reader(io.StringIO(_decode(data, file), newline=""))
    lines, rows, start = [], [], 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                lines.append(start)
                rows.append(row)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise TrainkitError(f"{file}: line {start} cannot be read as CSV ({exc}).") from None
    return file, lines, rows


def _decode(data: bytes, file: Path) -> str:
    """The text of a UTF-8 file (a byte-order mark dropped); other encodings are refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TrainkitError(f"{file} is UTF-16 text, but trainkit reads UTF-8: {SAVE_UTF8}.")
    if b"\x00" in data:
        raise TrainkitError(
            f"{file} holds NUL bytes, so it is not a UTF-8 text table (UTF-16 text, or a binary "
            f"file such as a spreadsheet?): {SAVE_UTF8}."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TrainkitError(
            f"{file} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}; Latin-1 or "
            f"Windows-1252?): {SAVE_UTF8}."
        ) from None
