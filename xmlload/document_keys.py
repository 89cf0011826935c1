"""What `--ids` / `--ids-file` name: source keys (ids of a table source, paths of a file
source) or document ids, which the processing log maps to their source keys.

Every key must match a document; any that do not are listed in one SettingsError
(exit 2) before anything is written."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from xmlload.contract.compiler import Plan
from xmlload.db.processing_log import ProcessingLog
from xmlload.db.target import connect_engine, target_schema
from xmlload.errors import SettingsError
from xmlload.sources import SourceConfig, SourceItem, open_source
from xmlload.sources.files import canonical

_ID = re.compile(r"^-?\d{1,19}$")
# a record's ordinal (or a part's ordinals, #first-last) at the end of its key
_RECORD = re.compile(r"#\d+(-\d*)?$")
SHOWN = 20  # unmatched keys listed in the error


class DocumentKeys:
    def __init__(self, source: SourceConfig, plan: Plan, target: URL) -> None:
        self.source, self.plan, self.target = source, plan, target

    def from_log(self, keys: Iterable[str]) -> list[SourceItem]:
        """This source's items among source keys as the processing log holds them
        (reprocess --failed); keys of other sources are left out."""
        items = (self.source.item_of(self._container(key)) for key in keys)
        return list(dict.fromkeys(item for item in items if item is not None))

    def _container(self, key: str) -> str:
        """With document.records, a record's key names its file (or row) and ordinal: the
        file is what is read again (every record of it is reloaded)."""
        return _RECORD.sub("", key) if self.plan.records is not None else key

    def resolve(self, keys: Iterable[str]) -> list[SourceItem]:
        """The documents the user named; SettingsError listing those that match none."""
        wanted = list(dict.fromkeys(self._container(key.strip()) for key in keys if key.strip()))
        if not wanted:
            raise SettingsError("no ids given")
        if self.source.items_are_paths:
            items, unmatched = self._files(wanted)
        else:
            items, unmatched = self._rows(wanted)
        if unmatched:
            shown = ", ".join(unmatched[:SHOWN]) + (" …" if len(unmatched) > SHOWN else "")
            raise SettingsError(
                f"{len(unmatched)} of {len(wanted)} ids match no document of the source "
                f"(nor a document id in the processing log): {shown}"
            )
        return list(dict.fromkeys(items))

    def _files(self, keys: list[str]) -> tuple[list[SourceItem], list[str]]:
        """A path of a file; a key the log holds (also one whose file name could not be
        stored as it is); a document id the log knows."""
        items: list[SourceItem] = []
        rest: list[str] = []
        for key in keys:
            if Path(key).expanduser().is_file():
                items.append(canonical(Path(key).expanduser()))
            else:
                rest.append(key)
        logged = self._logged(rest)
        unmatched = []
        for key in rest:
            if key in logged:
                items.extend(logged[key])
            else:
                unmatched.append(key)
        return items, unmatched

    def _rows(self, keys: list[str]) -> tuple[list[SourceItem], list[str]]:
        """Row ids, or this source's keys as the processing log holds them."""
        ids = [int(key) if _ID.match(key) else self.source.item_of(key) for key in keys]
        bad = [key for key, item in zip(keys, ids, strict=True) if item is None]
        if bad:
            raise SettingsError(
                f"not a document id: {bad[0][:40]!r} (ids are whole numbers, or source keys "
                "of this table as the processing log holds them)"
            )
        source = open_source(self.source)
        try:
            present = {document.item for document in source.read(ids) if document.data is not None}
        finally:
            source.close()
        return [i for i in ids if i in present], [str(i) for i in ids if i not in present]

    def _logged(self, keys: Sequence[str]) -> dict[str, list[str]]:
        """Key -> the source keys the processing log has for it: itself when logged as a
        source key, else those of the document id it is."""
        if not keys:
            return {}
        log = ProcessingLog(target_schema(self.plan).log).table
        ids = [key for key in keys if _ID.match(key)]
        _, engine = connect_engine(self.target)
        try:
            with engine.connect() as connection:
                if not sa.inspect(connection).has_table(log.name, schema=log.schema):
                    return {}
                known = sa.select(log.c.source_key).where(log.c.source_key.in_(list(keys)))
                found = {key: [key] for (key,) in connection.execute(known)}
                direct = set(found)
                by_id = sa.select(log.c.document_id, log.c.source_key).where(
                    sa.cast(log.c.document_id, sa.String).in_(ids)
                )
                for document_id, key in connection.execute(by_id) if ids else []:
                    if str(document_id) not in direct:
                        found.setdefault(str(document_id), []).append(key)
                return found
        finally:
            engine.dispose()
