"""Write generated documents as files (1,000 per sub-directory) or rows of `(id, xml)`."""

from __future__ import annotations

from collections import Counter
from itertools import islice
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from xmlload.contract.model import check_identifier
from xmlload.db.target import connect_engine, describe_db_error
from xmlload.db.urls import mask_url, parse_url
from xmlload.errors import SettingsError, TargetError
from xmlload.generate.documents import DocumentGenerator


def write_files(generator: DocumentGenerator, count: int, first_id: int, out: Path) -> Counter[str]:
    """Write `<out>/<id // 1000>/<id>.xml`; return counts of good and bad kinds."""
    kinds: Counter[str] = Counter()
    for document in generator.documents(count, first_id):
        folder = out / f"{document.document_id // 1000:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{document.document_id}.xml").write_bytes(document.xml)
        kinds[document.bad_kind or "good"] += 1
    return kinds


def source_table(name: str, metadata: sa.MetaData) -> sa.Table:
    schema, _, table = name.rpartition(".")
    try:
        for identifier in [table, *([schema] if schema else [])]:
            check_identifier(identifier)
    except ValueError as error:
        raise SettingsError(f"source table: {error}") from None
    return sa.Table(
        table,
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("xml", sa.UnicodeText, nullable=False),
        schema=schema or None,
    )


def write_table(
    generator: DocumentGenerator,
    count: int,
    first_id: int,
    url_text: str,
    table_name: str,
    batch: int = 200,
) -> Counter[str]:
    """Insert documents into `table_name(id, xml)`, creating it if needed; replace same ids."""
    url = parse_url(url_text)
    table = source_table(table_name, sa.MetaData())
    strategy, engine = connect_engine(url)
    kinds: Counter[str] = Counter()
    documents = generator.documents(count, first_id)
    try:
        with engine.begin() as connection:
            table.create(connection, checkfirst=True)
        while chunk := list(islice(documents, batch)):
            rows = [(d.document_id, d.xml.decode("utf-8", "replace")) for d in chunk]
            with engine.begin() as connection:
                strategy.delete_documents(connection, table, "id", [row[0] for row in rows])
                strategy.insert_rows(connection, table, rows)
            kinds.update(d.bad_kind or "good" for d in chunk)
    except DBAPIError as error:
        raise TargetError(f"source {mask_url(url)}: {describe_db_error(error)}") from None
    finally:
        engine.dispose()
    return kinds
