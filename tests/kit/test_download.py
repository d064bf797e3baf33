"""Downloads: files are fetched once, checked against their MD5s, and never left half-written."""

from __future__ import annotations

import hashlib

import pytest

from trainkit.data.download import RemoteFile, fetch
from trainkit.errors import TrainkitError


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_fetch_downloads_verifies_and_reuses(tmp_path):
    source = tmp_path / "server" / "f.gz"
    source.parent.mkdir()
    source.write_bytes(b"payload")
    files = [RemoteFile("f.gz", source.as_uri(), md5(b"payload"))]
    (path,) = fetch("Test set", files, tmp_path / "cache")
    assert path.read_bytes() == b"payload"
    source.unlink()  # present and verified: no second download
    assert fetch("Test set", files, tmp_path / "cache") == [path]


def test_fetch_refuses_a_file_with_the_wrong_checksum(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "f.gz").write_bytes(b"something else")
    with pytest.raises(TrainkitError, match="damaged or not the expected file"):
        fetch("Test set", [RemoteFile("f.gz", "file:///nowhere/f.gz", md5(b"x"))], cache)


def test_fetch_without_network_says_which_files_go_where(tmp_path):
    files = [RemoteFile("a.gz", (tmp_path / "gone" / "a.gz").as_uri(), md5(b"a"))]
    with pytest.raises(TrainkitError) as error:
        fetch("Test set", files, tmp_path / "cache")
    message = str(error.value)
    assert "Test set is not in" in message and "could not be downloaded" in message
    assert f"a.gz from {files[0].url}" in message and str(tmp_path / "cache") in message
    assert not (tmp_path / "cache").exists()  # no partial file, not even the folder, left behind
