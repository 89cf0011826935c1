#!/usr/bin/env python3
"""Pool versus Dask, two workers each, on the same bytes in one run:

    python scripts/benchmark_executors.py --copies 30 \
        --target postgresql://postgres@127.0.0.1/test [--repeat 2]

Copies the shared corpus K times (new ids per copy), starts `dask scheduler` and two
`dask worker --nworkers 1 --nthreads 1` processes, then loads the copies with
`--executor pool --workers 2` and `--executor dask --scheduler …` into fresh schemas,
alternating, best of --repeat. Prints docs/s after start-up for each, the Dask cost per
chunk, and the per-document CPU (validate+parse+map) and database (load) seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from xmlload.bench import loop_corpus

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "contracts" / "credit_application.yaml"
CORPUS = ROOT.parent / "shared" / "corpus" / "xmlconversion-cc" / "xml"
DASK = Path(sys.executable).parent / "dask"
CHUNK = 50


def start_cluster(folder: Path) -> tuple[str, list[subprocess.Popen]]:
    address_file = folder / "scheduler.json"
    scheduler = subprocess.Popen(
        [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(address_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    while not address_file.exists():
        time.sleep(0.2)
    address = json.loads(address_file.read_text())["address"]
    workers = [
        subprocess.Popen(
            [str(DASK), "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(2)
    ]
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
    return address, [scheduler, *workers]


def load(copies: Path, target: str, executor: list[str], folder: Path) -> dict:
    schema = f"xl_bench_{uuid.uuid4().hex[:8]}"
    contract = folder / f"{schema}.yaml"
    contract.write_text(CONTRACT.read_text() + f"\ntarget_schema: {schema}\n")
    report = folder / f"{schema}.json"
    command = [sys.executable, "-m", "xmlload", "run", "--contract", str(contract), "--source",
               str(copies), "--target", target, "--create-tables", "--progress", "none",
               "--chunk-size", str(CHUNK), "--report", str(report), *executor]  # fmt: skip
    subprocess.run(command, capture_output=True, check=False)
    engine = sa.create_engine(target.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()
    return json.loads(report.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=30)
    parser.add_argument("--target", default="postgresql://postgres@127.0.0.1/test")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        count = loop_corpus(CONTRACT, CORPUS, folder / "xml", args.copies)
        address, processes = start_cluster(folder)
        executors = {"pool": ["--workers", "2"],
                     "dask": ["--executor", "dask", "--scheduler", address]}  # fmt: skip
        best: dict[str, dict] = {}
        try:
            for _ in range(args.repeat):
                for name, flags in executors.items():
                    report = load(folder / "xml", args.target, flags, folder)
                    rate = report["docs_per_minute_after_startup"] / 60
                    if name not in best or rate > best[name]["rate"]:
                        best[name] = {"rate": rate, "report": report}
        finally:
            for process in processes:
                os.killpg(process.pid, signal.SIGKILL)
    print(f"{count} documents ({args.copies} copies of the shared corpus), 2 workers, "
          f"chunks of {CHUNK}, best of {args.repeat}, target {args.target}")  # fmt: skip
    for name, found in best.items():
        stages = found["report"]["stage_seconds"]
        documents = found["report"]["documents"]["processed"]
        cpu = (stages.get("validate+parse", 0) + stages.get("map", 0)) / documents
        database = stages.get("load", 0) / documents
        print(
            f"{name:5s} {found['rate']:7.1f} docs/s after start-up; per document: "
            f"{cpu * 1000:.2f} ms CPU (validate+parse+map), {database * 1000:.2f} ms load"
        )
    pool, dask = best["pool"]["rate"], best["dask"]["rate"]
    per_chunk = (2 / dask - 2 / pool) * CHUNK * 1000
    print(f"dask / pool: {dask / pool:.2f}; Dask's cost per chunk of {CHUNK}: {per_chunk:.1f} ms")


if __name__ == "__main__":
    main()
