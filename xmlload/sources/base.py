"""The source interface shared by files and database tables."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

SourceItem = int | str  # a row id or a file path: what a chunk carries, never XML


@dataclass(frozen=True)
class SourceConfig:
    """Picklable description of a source; each worker opens its own reader from it."""


@dataclass(frozen=True)
class SourceDocument:
    item: SourceItem
    data: bytes | None
    error: str | None = None

    @property
    def key(self) -> str:
        return str(self.item)


class Source(Protocol):
    def count(self) -> int: ...

    def pages(self, page_size: int) -> Iterator[list[SourceItem]]: ...

    def read(self, items: Sequence[SourceItem]) -> Iterator[SourceDocument]: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


_DECLARED_ENCODING = re.compile(r"^(\ufeff?<\?xml[^>]*?encoding\s*=\s*)([\"'])[^\"']*\2")


def text_to_bytes(text: str) -> bytes:
    """UTF-8 bytes of a document that arrived as text; its declared encoding now says UTF-8."""
    return _DECLARED_ENCODING.sub(r"\1\2UTF-8\2", text, count=1).encode("utf-8")
