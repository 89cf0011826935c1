#!/usr/bin/env python3
"""Start-up, measured from the outside: wall seconds from launching a command to

- `xmlload --help` exiting;
- the first document committed by `xmlload run --workers N` (its row in the processing
  log, polled every 5 ms from another connection), into tables the run creates and into
  empty tables that are already there, and the run exiting, next to the time N processes
  take just to read and parse the same files (the ceiling);
- `xmlload reprocess --ids` of three documents exiting.

Each figure is the median of `--repeat` launches into fresh tables (a new schema on a
server, a new SQLite file).

    python scripts/benchmark_startup.py --target postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
import yaml

from xmlload.bench import loop_corpus, parse_ceiling
from xmlload.contract.loader import load_plan
from xmlload.db.check import prepare_target
from xmlload.db.urls import parse_url
from xmlload.settings import Settings
from xmlload.sources import open_source

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "xmlconversion-cc" / "xml"
XMLLOAD = [sys.executable, "-m", "xmlload"]
IDS = "142305,127582,447945"
OK_EXITS = (0, 3)  # 3: some documents failed (the corpus's wrong-schema one does, by design)


def fresh_target(target: str, contract: Path, folder: Path, name: str) -> tuple[str, Path, str]:
    """(target URL, contract writing to it, log table) for a run into fresh tables."""
    if parse_url(target).get_backend_name() == "sqlite":
        return f"sqlite:///{folder / f'{name}.db'}", contract, "processing_log"
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    data = yaml.safe_load(contract.read_text())
    data["target_schema"] = schema
    copy = folder / f"{name}.yaml"
    copy.write_text(yaml.safe_dump(data))
    return target, copy, f'"{schema}".processing_log'


def drop(target: str, contract: Path) -> None:
    schema = yaml.safe_load(contract.read_text()).get("target_schema")
    if schema and parse_url(target).get_backend_name() != "sqlite":
        engine = sa.create_engine(parse_url(target))
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def first_commit(command: list[str], target: str, log: str) -> tuple[float, float]:
    """(seconds to the first logged document, seconds to exit) of one launch."""
    engine = sa.create_engine(parse_url(target))
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = None
    while process.poll() is None and first is None:
        try:
            with engine.connect() as connection:
                if connection.execute(sa.text(f"SELECT 1 FROM {log} LIMIT 1")).first():
                    first = time.perf_counter() - started
        except sa.exc.SQLAlchemyError:
            pass  # the log table is not there yet
        time.sleep(0.005)
    process.wait()
    ended = time.perf_counter() - started
    engine.dispose()
    if process.returncode not in OK_EXITS:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}")
    return (ended if first is None else first), ended


def run_command(contract: Path, source: Path, target: str, workers: int) -> list[str]:
    return [*XMLLOAD, "run", "--contract", str(contract), "--source", str(source),
            "--target", target, "--create-tables", "--progress", "none",
            "--workers", str(workers)]  # fmt: skip


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode not in OK_EXITS:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-500:]!r}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default=None, help="default: fresh SQLite files")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--loop", type=int, default=40, help="copies of the corpus to load")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--contract", type=Path, default=REPO / "contracts" / "credit_application.yaml"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        documents = loop_corpus(args.contract, CORPUS, folder / "xml", args.loop)
        target = args.target or f"sqlite:///{folder / 'unused.db'}"
        helps, firsts, readies, wholes, reprocesses, fractions = [], [], [], [], [], []
        config = Settings(contract=args.contract, source=str(folder / "xml")).source_config()
        listing = open_source(config)
        items = [item for page in listing.pages(1000) for item in page]
        listing.close()
        for turn in range(args.repeat):
            helps.append(wall([*XMLLOAD, "--help"]))
            url, contract, log = fresh_target(target, args.contract, folder, f"run{turn}")
            run = run_command(contract, folder / "xml", url, args.workers)
            ceiling = documents / parse_ceiling(config, items, args.workers, 50) * 60
            try:
                first, whole = first_commit(run, url, log)
                firsts.append(first)
                wholes.append(whole)
                fractions.append(ceiling / whole)
                reprocesses.append(
                    wall([*XMLLOAD, "reprocess", "--contract", str(contract), "--source",
                          str(CORPUS), "--target", url, "--ids", IDS, "--progress", "none"])
                )  # fmt: skip
            finally:
                drop(url, contract)
            url, contract, log = fresh_target(target, args.contract, folder, f"ready{turn}")
            try:
                prepare_target(parse_url(url), load_plan(contract), create=True)
                run = run_command(contract, folder / "xml", url, args.workers)
                readies.append(first_commit(run, url, log)[0])
            finally:
                drop(url, contract)
    backend = parse_url(target).get_backend_name()
    print(f"{documents} documents, {args.workers} workers, {backend}; median of {args.repeat}")
    print(f"xmlload --help                      {statistics.median(helps):6.2f} s")
    print(f"run: first document committed      {statistics.median(firsts):6.2f} s "
          "(the run creates the tables)")  # fmt: skip
    print(f"run: first document committed      {statistics.median(readies):6.2f} s "
          "(empty tables already there)")  # fmt: skip
    print(f"run: whole, launch to exit          {statistics.median(wholes):6.2f} s "
          f"({statistics.median(fractions):.2f} of the {args.workers}-process parse ceiling, "
          "measured right before each run)")  # fmt: skip
    print(f"reprocess --ids (3 documents)       {statistics.median(reprocesses):6.2f} s")


if __name__ == "__main__":
    main()
