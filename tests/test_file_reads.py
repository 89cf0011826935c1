"""Reading a document file: all of its bytes, bounded by the size cap, and no more memory
than the document takes."""

from __future__ import annotations

import gzip
import os
import tracemalloc
from pathlib import Path

import pytest

from xmlload.sources import files
from xmlload.sources.files import read_file

CAP = 32 << 20  # the default max_document_bytes


def test_a_small_document_costs_its_size_in_memory_not_the_cap(tmp_path: Path) -> None:
    """Asking Python for the cap's worth of bytes sets the cap aside before reading: 32 MB
    (the default cap) for every 265 KB document, which made reading it 3.5 times slower."""
    data = b"<a>" + b"x" * 200_000 + b"</a>"
    (tmp_path / "d.xml").write_bytes(data)
    (tmp_path / "d.xml.gz").write_bytes(gzip.compress(data))
    for name in ("d.xml", "d.xml.gz"):
        tracemalloc.start()
        try:
            assert read_file(tmp_path / name, CAP) == data
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 4 << 20, f"{name}: {peak:,} bytes at the peak"


def _stat_saying(size: int, path: Path) -> os.stat_result:
    real = path.stat()
    return os.stat_result((real.st_mode, *tuple(real)[1:6], size, *tuple(real)[7:10]))


def test_a_file_that_grew_after_it_was_looked_at_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"<a>" + b"y" * 3_000_000 + b"</a>"
    path = tmp_path / "grown.xml"
    path.write_bytes(data)
    monkeypatch.setattr(files, "_check_regular", lambda p: _stat_saying(1_000, p))
    assert read_file(path, CAP) == data


def test_a_file_that_grew_past_the_cap_is_read_to_one_byte_over_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One byte past the cap, and the validator refuses the document as over it."""
    path = tmp_path / "grown.xml"
    path.write_bytes(b"z" * 5_000_000)
    monkeypatch.setattr(files, "_check_regular", lambda p: _stat_saying(10, p))
    assert read_file(path, 2_500_000) == b"z" * 2_500_001


def test_empty_and_cap_sized_files(tmp_path: Path) -> None:
    (tmp_path / "empty.xml").write_bytes(b"")
    (tmp_path / "full.xml").write_bytes(b"w" * 3_000_000)
    (tmp_path / "full.xml.gz").write_bytes(gzip.compress(b"w" * 3_000_000))
    (tmp_path / "over.xml.gz").write_bytes(gzip.compress(b"w" * 3_000_001))
    assert read_file(tmp_path / "empty.xml", CAP) == b""
    assert read_file(tmp_path / "full.xml", 3_000_000) == b"w" * 3_000_000
    assert read_file(tmp_path / "full.xml.gz", 3_000_000) == b"w" * 3_000_000
    with pytest.raises(OSError, match="more than the 3,000,000-byte cap"):
        read_file(tmp_path / "over.xml.gz", 3_000_000)
