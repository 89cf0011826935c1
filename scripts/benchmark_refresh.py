#!/usr/bin/env python3
"""What a refresh costs, in one run on the same machine:

    python scripts/benchmark_refresh.py --documents 10000 \
        --target postgresql://postgres@127.0.0.1/test [--workers 2] [--refreshes 5]

Generates N documents into a PostgreSQL source table (id, xml, updated) and as files,
loads both (history: keep), then changes 1%, adds 0.5% and deletes 0.1% and times:
- table: `run --refresh --close-missing --source-updated-column updated` against loading
  just the changed + new documents into an empty target;
- files: `run --refresh --close-missing` against the first load (the unchanged 98.4% are
  read and fingerprinted, not parsed);
- the fingerprint's share of a first load (hashing every document's bytes, in process).
Repeats the change --refreshes times and prints the Type 2 table sizes. Every schema and
file it makes is removed at the end.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import xxhash
import yaml

from xmlload.generate import DocumentGenerator

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "contracts" / "credit_application.yaml"


def contract(folder: Path, schema: str) -> Path:
    data = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    data.update(target_schema=schema, history="keep")
    path = folder / f"{schema}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def run(*args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "xmlload", "run", "--progress", "none",
                           "--create-tables", *args], capture_output=True, text=True)  # fmt: skip
    if done.returncode not in (0, 3):
        raise SystemExit(done.stdout[-2000:] + done.stderr[-2000:])
    return time.perf_counter() - started


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Source:
    """The documents as rows of `schema.docs` and as files, changed together."""

    def __init__(self, engine: sa.Engine, schema: str, folder: Path, count: int) -> None:
        self.engine, self.table, self.folder = engine, f"{schema}.docs", folder
        self.ids = list(range(1, count + 1))
        self.next_id, self.version = count + 1, 0
        with engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
            connection.exec_driver_sql(f"CREATE TABLE {self.table} (id BIGINT PRIMARY KEY, "
                                       "xml TEXT, updated TIMESTAMP)")  # fmt: skip
            # as the README advises: an index, so rows past the checkpoint are found directly
            connection.exec_driver_sql(f"CREATE INDEX ON {self.table} (updated)")
        self.write(self.ids)

    def write(self, ids: list[int]) -> None:
        rows = []
        generator = DocumentGenerator(seed=11 + self.version, median_kb=8)  # other content
        for document_id in ids:
            xml = generator.document(document_id).xml
            (self.folder / f"{document_id}.xml").write_bytes(xml)
            rows.append({"id": document_id, "xml": xml.decode(), "updated": now()})
        with self.engine.begin() as connection:
            connection.execute(sa.text(f"DELETE FROM {self.table} WHERE id = ANY(:ids)"),
                               {"ids": ids})  # fmt: skip
            connection.execute(sa.text(f"INSERT INTO {self.table} VALUES (:id, :xml, :updated)"),
                               rows)  # fmt: skip

    def change(self, rng: random.Random) -> tuple[list[int], list[int], list[int]]:
        """1% changed, 0.5% new, 0.1% deleted."""
        self.version += 1
        count = len(self.ids)
        changed = rng.sample(self.ids, max(1, count // 100))
        new = list(range(self.next_id, self.next_id + max(1, count // 200)))
        rest = [i for i in self.ids if i not in set(changed)]
        deleted = rng.sample(rest, max(1, count // 1000))
        self.next_id += len(new)
        self.write(changed + new)
        with self.engine.begin() as connection:
            connection.execute(sa.text(f"DELETE FROM {self.table} WHERE id = ANY(:ids)"),
                               {"ids": deleted})  # fmt: skip
        for document_id in deleted:
            (self.folder / f"{document_id}.xml").unlink()
        self.ids = [i for i in self.ids if i not in set(deleted)] + new
        return changed, new, deleted


def sizes(engine: sa.Engine, schema: str) -> dict[str, tuple[int, int]]:
    """table -> (rows, current rows)."""
    found = {}
    with engine.connect() as connection:
        for (table,) in connection.execute(sa.text(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = :s "
                "AND column_name = 'valid_to' ORDER BY 1"), {"s": schema}):  # fmt: skip
            total, current = connection.execute(sa.text(
                f"SELECT count(*), count(*) FILTER (WHERE valid_to IS NULL) "
                f"FROM {schema}.{table}")).one()  # fmt: skip
            found[table] = (total, current)
    return found


def analyze_without_autovacuum(engine: sa.Engine) -> None:
    """Where autovacuum is off (as on the benchmark machine), gather the planner's
    statistics as it would after a load: without them PostgreSQL scans whole tables for
    the current rows of a chunk's documents (20 ms a table instead of 2 ms)."""
    with engine.connect() as connection:
        if connection.exec_driver_sql("SHOW autovacuum").scalar() == "off":
            print("autovacuum is off: ANALYZE after the first load, as it would do")
            connection.exec_driver_sql("ANALYZE")


def fingerprint_share(folder: Path, first_load: float, workers: int) -> float:
    data = [path.read_bytes() for path in folder.glob("*.xml")]
    started = time.perf_counter()
    for document in data:
        xxhash.xxh3_128_hexdigest(document)
    return (time.perf_counter() - started) / workers / first_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--target", default="postgresql://postgres@127.0.0.1/test")
    parser.add_argument("--workers", default="2")
    parser.add_argument("--refreshes", type=int, default=5)
    args = parser.parse_args()
    engine = sa.create_engine(args.target.replace("postgresql://", "postgresql+psycopg://", 1))
    tag = uuid.uuid4().hex[:8]
    schemas = {name: f"xl_bench_{name}_{tag}" for name in ("src", "table", "files", "scratch")}
    scratch = Path(tempfile.mkdtemp(prefix="xmlload-refresh-"))
    try:
        (scratch / "xml").mkdir()
        source = Source(engine, schemas["src"], scratch / "xml", args.documents)
        table = ["--source", args.target, "--source-table", source.table,
                 "--target", args.target, "--workers", args.workers]  # fmt: skip
        files = ["--source", str(scratch / "xml"), "--target", args.target,
                 "--workers", args.workers]  # fmt: skip
        table_contract = contract(scratch, schemas["table"])
        files_contract = contract(scratch, schemas["files"])
        first_table = run("--contract", str(table_contract), *table,
                          "--source-updated-column", "updated")  # fmt: skip
        first_files = run("--contract", str(files_contract), *files)
        print(f"first load of {args.documents:,}: table {first_table:.1f} s, "
              f"files {first_files:.1f} s")  # fmt: skip
        analyze_without_autovacuum(engine)
        share = fingerprint_share(scratch / "xml", first_files, int(args.workers))
        print(f"fingerprints: {share:.2%} of the first load's wall time")
        rng = random.Random(7)
        for number in range(1, args.refreshes + 1):
            changed, new, deleted = source.change(rng)
            refresh_table = run("--contract", str(table_contract), *table, "--refresh",
                                "--close-missing", "--source-updated-column",
                                "updated")  # fmt: skip
            refresh_files = run("--contract", str(files_contract), *files, "--refresh",
                                "--close-missing")  # fmt: skip
            subset = scratch / f"subset{number}"
            subset.mkdir()
            for document_id in changed + new:
                shutil.copy(scratch / "xml" / f"{document_id}.xml", subset)
            scratch_contract = contract(scratch, f"{schemas['scratch']}{number}")
            schemas[f"scratch{number}"] = f"{schemas['scratch']}{number}"
            just_those = run("--contract", str(scratch_contract), "--source", str(subset),
                             "--target", args.target, "--workers", args.workers)  # fmt: skip
            print(f"refresh {number} ({len(changed)} changed, {len(new)} new, {len(deleted)} "
                  f"deleted): table {refresh_table:.1f} s = {refresh_table / just_those:.2f} x "
                  f"loading just those ({just_those:.1f} s); files {refresh_files:.1f} s = "
                  f"{refresh_files / first_files:.1%} of the first load")  # fmt: skip
        for name, (total, current) in sizes(engine, schemas["table"]).items():
            print(f"  {name}: {total:,} rows, {current:,} current")
    finally:
        with engine.begin() as connection:
            for schema in schemas.values():
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
