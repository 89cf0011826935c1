"""XML files: a directory (searched recursively for *.xml), a glob, or one file."""

from __future__ import annotations

import glob
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from xmlload.errors import SettingsError
from xmlload.sources.base import SourceConfig, SourceDocument, SourceItem


@dataclass(frozen=True)
class FileSourceConfig(SourceConfig):
    location: str
    shard: tuple[int, int] | None = None  # (K, N): files whose CRC-32 of the path % N == K


class FileSource:
    def __init__(self, config: FileSourceConfig) -> None:
        self.location = config.location
        self.shard = config.shard
        self._paths: list[str] | None = None

    def _list(self) -> list[str]:
        if self._paths is None:
            root = Path(self.location).expanduser()
            if root.is_dir():
                found = [str(path) for path in root.rglob("*.xml") if path.is_file()]
            elif root.is_file():
                found = [str(root)]
            else:
                found = [p for p in glob.glob(str(root), recursive=True) if Path(p).is_file()]
                if not found and not glob.has_magic(str(root)):
                    raise SettingsError(f"source {self.location!r}: no such file or directory")
            if self.shard is not None:
                index, count = self.shard
                found = [p for p in found if zlib.crc32(p.encode()) % count == index]
            self._paths = sorted(found)
        return self._paths

    def count(self) -> int:
        return len(self._list())

    def pages(self, page_size: int) -> Iterator[list[SourceItem]]:
        paths = self._list()
        for start in range(0, len(paths), page_size):
            yield list(paths[start : start + page_size])

    def read(self, items: Sequence[SourceItem]) -> Iterator[SourceDocument]:
        for item in items:
            try:
                yield SourceDocument(item, Path(str(item)).read_bytes())
            except OSError as error:
                yield SourceDocument(item, None, f"cannot read file: {error.strerror}")

    def describe(self) -> str:
        return f"files {self.location}"

    def close(self) -> None:
        self._paths = None
