"""One Settings object: defaults < config file < XMLLOAD_* environment < command-line flags.

Every value remembers where it came from, so a bad one is reported with its origin.
"""

from __future__ import annotations

import difflib
import os
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from xmlload.db.retry import RetryPolicy
from xmlload.db.urls import mask_text
from xmlload.errors import SettingsError
from xmlload.parallel.executors import EXECUTORS
from xmlload.sources import SourceConfig, source_config

DEFAULT_CONFIG = Path("config/xmlload.toml")
ENV_PREFIX = "XMLLOAD_"
TEST_PREFIX = "XMLLOAD_TEST_"  # the test suite's own variables (database URLs)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    contract: Path | None = None
    source: str | None = Field(None, description="directory, glob or file; or a database URL")
    source_table: str | None = None
    id_column: str = "id"
    xml_column: str = "xml"
    target: str = "sqlite:///xmlload.db"
    workers: int = Field(1, ge=1, le=256)
    executor: str = Field("pool", description="a name in xmlload.parallel.executors")
    scheduler: str | None = Field(
        None, description="Dask scheduler address (tcp://host:8786); none: a local cluster"
    )
    chunk_size: int = Field(50, ge=1, le=10_000)
    page_size: int = Field(5_000, ge=1, le=1_000_000)
    limit: int | None = Field(None, ge=1)
    id_start: int | None = None
    id_end: int | None = None
    create_tables: bool = False
    resume: bool = True
    refresh: bool = Field(False, description="reload logged documents whose bytes changed")
    close_missing: bool = Field(
        False, description="with refresh: delete the rows of logged documents gone from the source"
    )
    source_updated_column: str | None = Field(
        None, description="table sources: read only rows whose column passed the checkpoint"
    )
    checkpoint_lookback: float = Field(
        0.0, ge=0, description="seconds (or units of an integer column) re-read before it"
    )
    rehash: bool = Field(False, description="with refresh: reload entries without fingerprint")
    max_document_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    doc_timeout: float = Field(300.0, ge=0, description="seconds per document; 0: no limit")
    max_worker_memory: int | None = Field(
        None, ge=1, description="MB of RSS after which a worker is replaced between chunks"
    )
    progress: Literal["auto", "bar", "log", "none"] = "auto"
    report: Path | None = None
    shard: str | None = Field(None, pattern=r"^\d+/\d+$", description="K/N: ids with id % N == K")
    retry_max_retries: int = Field(3, ge=0, le=100)
    retry_initial_delay: float = Field(1.0, ge=0)
    retry_max_delay: float = Field(60.0, ge=0)
    retry_backoff_base: float = Field(2.0, ge=1)
    retry_jitter: bool = True

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """As pydantic's, with passwords in URLs masked."""
        for name, value in super().__repr_args__():
            masked = name in ("source", "target") and isinstance(value, str) and "://" in value
            yield name, mask_text(value) if masked else value

    @model_validator(mode="after")
    def _rehash_needs_refresh(self) -> Settings:
        if self.source_updated_column is not None and not self.refresh:
            # rows past the checkpoint may be logged already: their bytes decide
            object.__setattr__(self, "refresh", True)
        if self.rehash and not self.refresh:
            raise ValueError("--rehash applies to --refresh runs only")
        if self.close_missing and not self.refresh:
            raise ValueError("--close-missing applies to --refresh runs only")
        ranged = self.id_start is not None or self.id_end is not None
        if self.close_missing and (self.shard or ranged):
            raise ValueError("--close-missing needs the whole source: no --shard or id range")
        return self

    @field_validator("executor")
    @classmethod
    def _known_executor(cls, value: str) -> str:
        if value not in EXECUTORS:
            raise ValueError(f"unknown executor {value!r}: choose one of {', '.join(EXECUTORS)}")
        return value

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            self.retry_max_retries,
            self.retry_initial_delay,
            self.retry_max_delay,
            self.retry_backoff_base,
            self.retry_jitter,
        )

    def source_config(self) -> SourceConfig:
        """The source these settings name (by the source-kind registry)."""
        return source_config(self)

    @property
    def shard_pair(self) -> tuple[int, int] | None:
        """(K, N) from `K/N`; SettingsError unless 0 <= K < N."""
        if self.shard is None:
            return None
        index, count = (int(part) for part in self.shard.split("/"))
        if not 0 <= index < count:
            raise SettingsError(f"--shard {self.shard}: want K/N with 0 <= K < N")
        return index, count


def _config_layer(path: Path | None) -> tuple[dict[str, Any], str]:
    explicit = path is not None
    file = path or DEFAULT_CONFIG
    if not file.exists():
        if explicit:
            raise SettingsError(f"config file {file} does not exist")
        return {}, ""
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError(f"config file {file}: {error}") from None
    return dict(data.get("xmlload", data)), str(file)


def _environment_layer(environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """XMLLOAD_* variables that name settings, and a warning per one that does not (it is
    ignored: another tool's or a test suite's variable must not stop a load).
    XMLLOAD_TEST_* belong to the test suite and are left alone."""
    fields = sorted(Settings.model_fields)
    layer, warnings = {}, []
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name.startswith(TEST_PREFIX):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key in fields:
            layer[key] = value
            continue
        close = difflib.get_close_matches(key, fields, n=1)
        hint = f"; did you mean {ENV_PREFIX}{close[0].upper()}?" if close else ""
        warnings.append(f"{name} is not a setting, ignored{hint}")
    return layer, warnings


def load_settings(
    flags: Mapping[str, Any], config: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Merge the layers; raise SettingsError naming the origin of a bad value."""
    file_values, file_name = _config_layer(config)
    env_values, warnings = _environment_layer(os.environ if environ is None else environ)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    given_flags = {key: value for key, value in flags.items() if value is not None}
    layers = [
        (file_values, lambda key: f"{file_name}: {key}"),
        (env_values, lambda key: f"{ENV_PREFIX}{key.upper()}"),
        (given_flags, lambda key: "--" + key.replace("_", "-")),
    ]
    for values, describe in layers:
        for key, value in values.items():
            merged[key] = value
            origin[key] = describe(key)
    try:
        return Settings.model_validate(merged)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            message = item["msg"].removeprefix("Value error, ")
            key = str(item["loc"][0]) if item["loc"] else ""
            problems.append(f"{origin.get(key, key)}: {message}" if key else message)
        raise SettingsError("bad settings: " + "; ".join(problems)) from None
