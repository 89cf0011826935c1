"""Which runs are loading a target right now: `processing_runs`, one row per live run.

A run claims its scope (the whole source, a shard `K/N`, an id range) before any worker
starts; a second run whose scope overlaps a live one is refused with a message naming it,
so nothing is loaded twice. Shards and disjoint id ranges run side by side. A live run
refreshes its row every few seconds; a row not refreshed for a minute (the run was killed),
or of a process that no longer exists on this host and in this PID namespace, does not
count. Times are UTC, whatever the time zone of each coordinator. A run whose row vanished
(deleted by hand, or taken as stale) notices at its next refresh and stops.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psutil
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from xmlload.db.dialects.base import DialectStrategy
from xmlload.db.schema import TABLE_OPTIONS, datetime_type
from xmlload.errors import SettingsError

log = logging.getLogger(__name__)
TABLE_NAME = "processing_runs"
REFRESH_EVERY = 5.0  # seconds
STALE_AFTER = timedelta(seconds=60)


def utc_now() -> datetime:
    """Naive UTC: comparable between coordinators in any time zone."""
    return datetime.now(UTC).replace(tzinfo=None)


def host_identity() -> str:
    """This host, and its PID namespace where there is one: a PID is only checked on the
    host and namespace that wrote it (another container may share the host name)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()} ({namespace.replace(':', ' ')})"


def runs_table(metadata: sa.MetaData, schema: str | None) -> sa.Table:
    return sa.Table(
        TABLE_NAME,
        metadata,
        sa.Column("run_id", sa.Unicode(36), primary_key=True),
        sa.Column("scope", sa.Unicode(100), nullable=False),
        sa.Column("host", sa.Unicode(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", datetime_type(), nullable=False),
        sa.Column("seen_at", datetime_type(), nullable=False),
        schema=schema,
        comment="Runs loading this target now; a row not refreshed for a minute is stale.",
        **TABLE_OPTIONS,
    )


@dataclass(frozen=True)
class RunScope:
    """The part of the source a run loads: a shard and an id range (None: unbounded)."""

    shard: tuple[int, int] | None = None
    id_start: int | None = None
    id_end: int | None = None

    def __str__(self) -> str:
        shard = f"shard {self.shard[0]}/{self.shard[1]}" if self.shard else "all shards"
        if self.id_start is None and self.id_end is None:
            return shard
        return f"{shard}, ids {self.id_start or '-inf'}..{self.id_end or 'inf'}"

    @classmethod
    def parse(cls, text: str) -> RunScope:
        shard, start, end = text.split("|")
        index, count = (int(part) for part in shard.split("/")) if shard else (0, 0)
        return cls((index, count) if shard else None, _int(start), _int(end))

    def encode(self) -> str:
        shard = f"{self.shard[0]}/{self.shard[1]}" if self.shard else ""
        return f"{shard}|{_text(self.id_start)}|{_text(self.id_end)}"

    def overlaps(self, other: RunScope) -> bool:
        same_split = self.shard and other.shard and self.shard[1] == other.shard[1]
        if same_split and self.shard != other.shard:
            return False  # different shards of one split never share a document
        low = max(self.id_start or -(2**63), other.id_start or -(2**63))
        high = min(self.id_end or 2**63, other.id_end or 2**63)
        return low <= high


def _int(text: str) -> int | None:
    return int(text) if text else None


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


class RunRegistry:
    def __init__(self, strategy: DialectStrategy, engine: Engine, table: sa.Table) -> None:
        """Opens the registry, creating its table when an older target lacks it."""
        self.strategy, self.engine, self.table = strategy, engine, table
        with engine.begin() as connection:
            strategy.serialize_ddl(connection)
            table.create(connection, checkfirst=True)
        self.run_id: str | None = None
        self._stop = threading.Event()
        self.vanished = threading.Event()  # this run's row is gone: the run must stop
        self._refresher: threading.Thread | None = None

    def claim(self, run_id: str, scope: RunScope) -> None:
        """Register this run, or raise SettingsError naming the live run it overlaps."""
        table, now = self.table, utc_now()
        with self.engine.begin() as connection:
            self.strategy.lock_table(connection, table)
            for row in connection.execute(sa.select(table)).all():
                if self._stale(row, now):
                    connection.execute(table.delete().where(table.c.run_id == row.run_id))
                elif scope.overlaps(RunScope.parse(row.scope)):
                    raise SettingsError(
                        f"another run is loading this target: run {row.run_id} "
                        f"({RunScope.parse(row.scope)}) on {row.host}, pid {row.pid}, "
                        f"started {row.started_at:%Y-%m-%d %H:%M:%S} UTC, last seen "
                        f"{(now - row.seen_at).total_seconds():.0f} s ago. Wait for it, or "
                        "split the work with --shard K/N or --id-start/--id-end."
                    )
            connection.execute(
                table.insert().values(
                    run_id=run_id,
                    scope=scope.encode(),
                    host=host_identity(),
                    pid=os.getpid(),
                    started_at=now,
                    seen_at=now,
                )
            )
        self.run_id = run_id
        self._refresher = threading.Thread(target=self._refresh, name="run-registry", daemon=True)
        self._refresher.start()

    def release(self) -> None:
        """Remove this run's row (at the end of the run, whatever the outcome)."""
        if self.run_id is None:
            return
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join()
        try:
            with self.engine.begin() as connection:
                connection.execute(self.table.delete().where(self.table.c.run_id == self.run_id))
        except sa.exc.DBAPIError as error:
            # the target is gone: the row goes stale and stops counting within a minute
            log.warning("could not remove run %s from %s: %s", self.run_id, TABLE_NAME, error)
        finally:
            self.engine.dispose()

    def _refresh(self) -> None:
        while not self._stop.wait(REFRESH_EVERY):
            try:
                with self.engine.begin() as connection:
                    found = connection.execute(
                        self.table.update()
                        .where(self.table.c.run_id == self.run_id)
                        .values(seen_at=utc_now())
                    ).rowcount
            except sa.exc.DBAPIError as error:  # the run itself notices a lost target
                log.warning("could not refresh run %s: %s", self.run_id, error)
                continue
            if found == 0:
                self.vanished.set()
                return

    @staticmethod
    def _stale(row: sa.Row, now: datetime) -> bool:
        if now - row.seen_at > STALE_AFTER:
            return True
        return row.host == host_identity() and not psutil.pid_exists(row.pid)
