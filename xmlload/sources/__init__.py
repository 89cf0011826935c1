"""Where documents come from: the registry of source kinds. A source lists work items
(file paths or row ids) for the coordinator, and reads the documents of a chunk inside a
worker. A new kind is one module with a `SourceConfig` subclass and one entry in
`SOURCE_KINDS`; settings, the command line and `--ids` ask the registry."""

from __future__ import annotations

from xmlload.errors import SettingsError
from xmlload.sources.base import Source, SourceConfig, SourceItem, SourceSettings
from xmlload.sources.files import FileSourceConfig
from xmlload.sources.table import TableSourceConfig

# The first kind that claims `--source LOCATION` reads it; files take what no other does.
SOURCE_KINDS: tuple[type[SourceConfig], ...] = (TableSourceConfig, FileSourceConfig)


def source_kind(location: str) -> type[SourceConfig]:
    return next(kind for kind in SOURCE_KINDS if kind.claims(location))


def source_config(settings: SourceSettings) -> SourceConfig:
    """The source the settings name; SettingsError if they are incomplete or do not fit."""
    if not settings.source:
        raise SettingsError("no source: give --source (a directory, glob or database URL)")
    return source_kind(settings.source).from_settings(settings)


def open_source(config: SourceConfig) -> Source:
    """A reader for this configuration, with its own connection where it needs one."""
    return config.open()


__all__ = [
    "SOURCE_KINDS",
    "FileSourceConfig",
    "Source",
    "SourceConfig",
    "SourceItem",
    "TableSourceConfig",
    "open_source",
    "source_config",
    "source_kind",
]
