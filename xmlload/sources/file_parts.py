"""One big file of records as several work items: each names a byte range of the file
holding whole records of one parent, never the bytes themselves. A worker reads its range
as a small XML file of its own: the file's prolog (XML declaration, DOCTYPE), the start tags
of the records' ancestors, the range, and the matching end tags; parsed streaming as the
whole file would be, it gives the same records with the same ordinals."""

from __future__ import annotations

import io
import mmap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

from xmlload.sources.record_scan import (
    Ancestor,
    NotSplittable,
    RecordSpan,
    ScanStopped,
    root_offset,
    scan_records,
)

if TYPE_CHECKING:
    from xmlload.sources.base import SourceItem

# a part's size: enough parts for every worker to have several, each big enough that its
# bookkeeping (a task, a look-up of its records in the log) is small beside its parsing
PART_BYTES = 4 << 20
MIN_PART_BYTES = 64 << 10
PARTS_PER_WORKER = 8


def part_size(file_bytes: int, workers: int) -> int:
    """How big the parts of a file of `file_bytes` are, shared among `workers`."""
    return min(PART_BYTES, max(MIN_PART_BYTES, file_bytes // (workers * PARTS_PER_WORKER)))


@dataclass(frozen=True)
class FilePart:
    """Records `first` … `first + count - 1` of the file at `path`, which lie in the bytes
    [start, end); `count` is None for the rest of a file the scan could not follow."""

    path: str
    first: int
    count: int | None
    start: int
    end: int | None
    prolog_end: int
    ancestors: tuple[Ancestor, ...]

    def __str__(self) -> str:
        return self.path

    @property
    def ordinals(self) -> range | None:
        return None if self.count is None else range(self.first, self.first + self.count)

    def describe(self) -> str:
        """`#first-last` (or `#first-` for the rest of a file) after the file's key."""
        last = "" if self.count is None else str(self.first + self.count - 1)
        return f"#{self.first}-{last}"


def split_file(path: str, steps: Sequence[str], part_bytes: int = PART_BYTES) -> Iterator[FilePart]:
    """The file's records as parts of about `part_bytes`, found as the scan goes (the
    first part is out before the scan has read far); NotSplittable before the first one
    for a file that cannot be split."""
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        prolog_end = root_offset(data)
        group: list[RecordSpan] = []
        first = 1
        try:
            for span in scan_records(data, steps):
                if group and (span.ancestors is not group[0].ancestors
                              or span.end - group[0].start > part_bytes):  # fmt: skip
                    yield _part(path, first, group, prolog_end)
                    first += len(group)
                    group = []
                group.append(span)
        except ScanStopped:
            if group:
                yield _part(path, first, group, prolog_end)
                first += len(group)
            resume_at = group[-1] if group else None
            yield FilePart(
                path, first, None, resume_at.end if resume_at else prolog_end, None, prolog_end,
                resume_at.ancestors if resume_at else (),
            )  # fmt: skip
            return
        if group:
            yield _part(path, first, group, prolog_end)


def with_parts(
    chunks: Iterable[list[SourceItem]], steps: Sequence[str], workers: int
) -> Iterator[list[SourceItem]]:
    """The chunks, each plain file of records in them bigger than two parts replaced by
    its parts, one part to a chunk (files that cannot be split stay whole)."""
    for chunk in chunks:
        whole: list[SourceItem] = []
        for item in chunk:
            parts = _parts(item, steps, workers)
            if parts is None:
                whole.append(item)
            else:
                yield from ([part] for part in parts)
        if whole:
            yield whole


def _parts(item: SourceItem, steps: Sequence[str], workers: int) -> Iterator[FilePart] | None:
    """The file's parts, or None when it is not to be split (small, compressed, not
    splittable, unreadable, no records: the worker reads it whole and says what it finds)."""
    if not isinstance(item, str) or item.lower().endswith(".gz"):
        return None
    try:
        size = Path(item).stat().st_size
        part_bytes = part_size(size, workers)
        if size <= 2 * part_bytes:
            return None
        parts = split_file(item, steps, part_bytes)
        first = next(parts, None)
    except (NotSplittable, OSError, ValueError):
        return None
    return None if first is None or first.count is None else chain([first], parts)


def _part(path: str, first: int, group: list[RecordSpan], prolog_end: int) -> FilePart:
    return FilePart(
        path, first, len(group), group[0].start, group[-1].end, prolog_end, group[0].ancestors
    )


def open_part(part: FilePart) -> io.BufferedReader:
    """The part as an XML stream of its own (see the module's docstring)."""
    file = open(part.path, "rb")  # noqa: SIM115 - the stream returned owns it
    pieces: list[tuple[int, int] | bytes] = [(0, part.prolog_end)]
    pieces += [(ancestor.start, ancestor.end) for ancestor in part.ancestors]
    end = part.end if part.end is not None else _size(file)
    pieces.append((part.start, end))
    if part.count is not None:
        pieces += [b"</" + ancestor.name + b">" for ancestor in reversed(part.ancestors)]
    return io.BufferedReader(_Pieces(file, pieces), buffer_size=1 << 16)


def _size(file: io.BufferedReader) -> int:
    return file.seek(0, io.SEEK_END)


def _length(piece: tuple[int, int] | bytes) -> int:
    return len(piece) if isinstance(piece, bytes) else piece[1] - piece[0]


class _Pieces(io.RawIOBase):
    """Byte ranges of a file and literal bytes, read one after the other."""

    def __init__(self, file: io.BufferedReader, pieces: list[tuple[int, int] | bytes]) -> None:
        self.file, self.pieces = file, pieces
        self.index, self.offset = 0, 0  # the piece being read, and how far into it

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        if (position, whence) == (0, io.SEEK_SET):
            self.index, self.offset = 0, 0
        elif (position, whence) != (0, io.SEEK_CUR):
            raise io.UnsupportedOperation("a part is read again only from its start")
        return self.tell()

    def tell(self) -> int:
        return sum(map(_length, self.pieces[: self.index])) + self.offset

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self.index < len(self.pieces):
            piece = self.pieces[self.index]
            if isinstance(piece, bytes):
                chunk = piece[self.offset : self.offset + len(buffer)]
            else:
                start, end = piece
                self.file.seek(start + self.offset)
                chunk = self.file.read(min(len(buffer), end - start - self.offset))
            if chunk:
                buffer[: len(chunk)] = chunk
                self.offset += len(chunk)
                return len(chunk)
            self.index, self.offset = self.index + 1, 0
        return 0

    def close(self) -> None:
        self.file.close()
        super().close()
