"""Where documents come from. A source lists work items (file paths or row ids) for the
coordinator, and reads the documents of a chunk inside a worker."""

from __future__ import annotations

from xmlload.sources.base import Source, SourceConfig, SourceItem
from xmlload.sources.files import FileSource, FileSourceConfig
from xmlload.sources.table import TableSource, TableSourceConfig


def open_source(config: SourceConfig) -> Source:
    """A reader for this configuration, with its own connection where it needs one."""
    if isinstance(config, FileSourceConfig):
        return FileSource(config)
    return TableSource(config)


__all__ = [
    "FileSourceConfig",
    "Source",
    "SourceConfig",
    "SourceItem",
    "TableSourceConfig",
    "open_source",
]
