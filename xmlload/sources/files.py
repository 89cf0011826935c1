"""XML files: a directory (searched recursively for .xml files, in any case, and
gzip-compressed .xml.gz, following symbolic links to directories once each), a glob, or
one file. A listed name that is not a regular file (a FIFO, a socket, a broken link)
fails as a document at the source stage, never silently."""

from __future__ import annotations

import glob
import gzip
import os
import stat
import sys
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from xmlload.errors import SettingsError
from xmlload.sources.base import (
    SourceConfig,
    SourceDocument,
    SourceItem,
    SourceSettings,
    key_problem,
    source_key,
)
from xmlload.sources.file_parts import FilePart, open_part


def canonical(path: str | Path) -> str:
    """A file's absolute path with symlinks resolved: its identity as a source key."""
    return str(Path(path).expanduser().resolve())


EXTENSIONS = (".xml", ".xml.gz")
DEFAULT_MAX_BYTES = 32 << 20  # as the max_document_bytes setting's default


@dataclass(frozen=True)
class FileSourceConfig(SourceConfig):
    location: str
    shard: tuple[int, int] | None = None  # (K, N): files whose CRC-32 of the path % N == K
    max_bytes: int = DEFAULT_MAX_BYTES  # larger files (or decompressed data) are not read

    items_are_paths = True

    @classmethod
    def claims(cls, location: str) -> bool:
        return "://" not in location

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> FileSourceConfig:
        table_only = (settings.source_table, settings.id_start, settings.id_end,
                      settings.source_updated_column)  # fmt: skip
        if any(value is not None for value in table_only):
            raise SettingsError(
                "--source-table, --id-start/--id-end and --source-updated-column apply to "
                f"database sources; {settings.source!r} is a file location"
            )
        return cls(str(settings.source), settings.shard_pair, settings.max_document_bytes)

    def open(self) -> FileSource:
        return FileSource(self)

    def key(self, item: SourceItem) -> str:
        """A file's path; for part of a file of records, the path and `#first-last`."""
        if isinstance(item, FilePart):
            return source_key(item.path) + item.describe()
        return source_key(item)

    def key_scope(self) -> str | None:
        """A directory's files have keys under its absolute path; a glob's have none."""
        root = Path(self.location).expanduser()
        return canonical(root) + os.sep if root.is_dir() else None


class FileSource:
    def __init__(self, config: FileSourceConfig) -> None:
        self.location = config.location
        self.shard, self.max_bytes = config.shard, config.max_bytes
        self._paths: list[str] | None = None

    def _list(self) -> list[str]:
        """Every file, as its absolute path with symlinks resolved: a file's key is the
        same whatever the working directory or however the source was spelled."""
        if self._paths is None:
            root = Path(self.location).expanduser()
            if root.is_dir():
                found = list(_walk(root.resolve()))
            elif root.exists():
                found = [canonical(root)]
            else:
                found = [canonical(p) for p in glob.glob(str(root), recursive=True)
                         if not Path(p).is_dir()]  # fmt: skip
                if not found and not glob.has_magic(str(root)):
                    raise SettingsError(f"source {self.location!r}: no such file or directory")
            if self.shard is not None:
                index, count = self.shard
                found = [p for p in found if zlib.crc32(os.fsencode(p)) % count == index]
            self._paths = sorted(set(found))
        return self._paths

    def count(self) -> int:
        return len(self._list())

    def pages(self, page_size: int) -> Iterator[list[SourceItem]]:
        paths = self._list()
        for start in range(0, len(paths), page_size):
            yield list(paths[start : start + page_size])

    def read(self, items: Sequence[SourceItem]) -> Iterator[SourceDocument]:
        for item in items:
            problem = key_problem(item)
            if problem is not None:
                yield SourceDocument(item, None, problem)
                continue
            try:
                yield SourceDocument(item, read_file(Path(str(item)), self.max_bytes))
            except OSError as error:
                yield SourceDocument(item, None, f"cannot read file: {error.strerror or error}")
            except EOFError:
                yield SourceDocument(item, None, "cannot read file: the gzip data is cut short")

    def open_stream(self, item: SourceItem) -> BinaryIO:
        """The file to read as a stream (decompressed for .gz), for a file of records;
        OSError if it cannot be read or is not a regular file."""
        problem = key_problem(item)
        if problem is not None:
            raise OSError(problem)
        if isinstance(item, FilePart):
            return open_part(item)
        path = Path(str(item))
        _check_regular(path)
        return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")

    def describe(self) -> str:
        return f"files {self.location}"

    def close(self) -> None:
        self._paths = None


_STEP_BYTES = 1 << 20  # a read's size where the size to come is not known
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFDIR: "a directory",
}


def _walk(root: Path) -> Iterator[str]:
    """Every document entry under root as its canonical path, following links to
    directories; a directory reached again (a link cycle, or two links to one place) is
    listed once and said. Each directory is resolved once; a file only when it is a link."""
    seen: set[tuple[int, int]] = set()
    for folder, directories, files in os.walk(root, followlinks=True):
        status = os.stat(folder)
        if (status.st_dev, status.st_ino) in seen:
            print(f"warning: {folder} is a directory already listed (a link back); "
                  "not listed again", file=sys.stderr)  # fmt: skip
            directories.clear()
            continue
        seen.add((status.st_dev, status.st_ino))
        real = os.path.realpath(folder)
        for name in files:
            if _is_document(name):
                path = os.path.join(real, name)
                yield os.path.realpath(path) if os.path.islink(path) else path


def _is_document(name: str) -> bool:
    """XML files in a directory source: `.xml` in any case, gzip-compressed `.xml.gz` too;
    whatever kind of file they are (reading says if they are not regular files)."""
    return name.lower().endswith(EXTENSIONS)


def _check_regular(path: Path) -> os.stat_result:
    status = path.stat()
    kind = stat.S_IFMT(status.st_mode)
    if kind != stat.S_IFREG:
        what = _KINDS.get(kind, "not a file")
        raise OSError(f"{what}, not a regular file; xmlload reads regular files only")
    return status


def read_file(path: Path, max_bytes: int) -> bytes:
    """The file's bytes (decompressed for .gz); OSError, before reading more than
    `max_bytes`, for a larger document or anything but a regular file."""
    status = _check_regular(path)
    cap = f"the {max_bytes:,}-byte cap (max_document_bytes)"
    if not path.name.lower().endswith(".gz"):
        if status.st_size > max_bytes:
            raise OSError(f"the file is {status.st_size:,} bytes, over {cap}; not read")
        with path.open("rb") as file:
            return _read_bounded(file, status.st_size + 1, max_bytes)  # one read, as a rule
    with gzip.open(path, "rb") as file:
        data = _read_bounded(file, _STEP_BYTES, max_bytes)
    if len(data) > max_bytes:
        raise OSError(f"more than {cap} once decompressed; not read further")
    return data


def _read_bounded(stream: BinaryIO, first: int, max_bytes: int) -> bytes:
    """The stream's bytes, but no more than `max_bytes` + 1 of them (a file that grew
    meanwhile stays bounded): `first` bytes asked for at once, then steps of a megabyte.
    Never one read of the cap's size: Python sets aside the whole size asked for before
    reading: the default cap, 32 MB, for a 265 KB document made reading it 3.5 times slower."""
    parts: list[bytes] = []
    total, asked = 0, min(first, max_bytes + 1)
    while asked > 0:
        part = stream.read(asked)
        parts.append(part)
        total += len(part)
        if len(part) < asked:  # the end of the stream
            break
        asked = min(_STEP_BYTES, max_bytes + 1 - total)
    return parts[0] if len(parts) == 1 else b"".join(parts)
