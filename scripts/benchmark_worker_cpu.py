#!/usr/bin/env python3
"""CPU a worker spends per document, measured from the outside: one `xmlload run` of the
shared corpus looped `--loop` times into fresh tables, its processes sampled with psutil
every 50 ms. Prints wall seconds, the workers' CPU per document, the coordinator's CPU and
each worker's largest RSS seen.

CPU time moves less than wall time on a busy machine, so this compares two versions (or
two allocators: run one side with `LD_PRELOAD=`) more steadily than docs/s does.

    python scripts/benchmark_worker_cpu.py --target postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import sqlalchemy as sa
import yaml

from xmlload.bench import loop_corpus
from xmlload.db.urls import parse_url

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "xmlconversion-cc" / "xml"


def fresh_target(target: str, contract: Path, folder: Path) -> tuple[str, Path, str | None]:
    """(target URL, contract writing to it, schema to drop afterwards)."""
    if parse_url(target).get_backend_name() == "sqlite":
        return f"sqlite:///{folder / 'target.db'}", contract, None
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    data = yaml.safe_load(contract.read_text())
    data["target_schema"] = schema
    copy = folder / "contract.yaml"
    copy.write_text(yaml.safe_dump(data))
    return target, copy, schema


def sample(run: subprocess.Popen[bytes]) -> tuple[dict[int, float], dict[int, int], float]:
    """Until the run exits: the last CPU seconds and the largest RSS of each worker, and
    the coordinator's CPU seconds."""
    coordinator = psutil.Process(run.pid)
    cpu: dict[int, float] = {}
    rss: dict[int, int] = {}
    own = 0.0
    while run.poll() is None:
        try:
            times = coordinator.cpu_times()
            own = times.user + times.system
            children = coordinator.children(recursive=True)
        except psutil.Error:
            break
        for child in children:
            try:
                if child.ppid() == run.pid:
                    continue  # the fork server and the resource tracker, not workers
                times, memory = child.cpu_times(), child.memory_info()
            except psutil.Error:
                continue
            cpu[child.pid] = times.user + times.system
            rss[child.pid] = max(rss.get(child.pid, 0), memory.rss)
        time.sleep(0.05)
    return cpu, rss, own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default="sqlite:///", help="default: a fresh SQLite file")
    parser.add_argument("--loop", type=int, default=40, help="copies of the corpus")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--contract", type=Path, default=REPO / "contracts" / "credit_application.yaml"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        documents = loop_corpus(args.contract, CORPUS, folder / "xml", args.loop)
        target, contract, schema = fresh_target(args.target, args.contract, folder)
        command = [sys.executable, "-m", "xmlload", "run", "--contract", str(contract),
                   "--source", str(folder / "xml"), "--target", target, "--create-tables",
                   "--workers", str(args.workers), "--progress", "none"]  # fmt: skip
        started = time.perf_counter()
        run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu, rss, coordinator = sample(run)
        wall = time.perf_counter() - started
        if schema is not None:
            engine = sa.create_engine(parse_url(target))
            with engine.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()
    workers = sum(cpu.values())  # the Manager's share is small (0.05 s a run)
    print(
        f"{documents} documents, {args.workers} worker(s): wall {wall:.2f} s; workers' CPU "
        f"{workers:.2f} s = {workers / documents * 1000:.3f} ms a document; coordinator "
        f"CPU {coordinator:.2f} s; largest RSS "
        + ", ".join(f"{value / 2**20:.0f} MB" for value in sorted(rss.values()))
    )


if __name__ == "__main__":
    main()
