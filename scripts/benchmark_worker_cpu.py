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
from pathlib import Path

import psutil
from benchmark_startup import CORPUS, OK_EXITS, REPO, drop, fresh_target  # this folder's

from xmlload.bench import loop_corpus


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
        target, contract, _ = fresh_target(args.target, args.contract, folder, "worker-cpu")
        command = [sys.executable, "-m", "xmlload", "run", "--contract", str(contract),
                   "--source", str(folder / "xml"), "--target", target, "--create-tables",
                   "--workers", str(args.workers), "--progress", "none"]  # fmt: skip
        errors = folder / "stderr.txt"
        started = time.perf_counter()
        with errors.open("wb") as stderr:
            run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
            cpu, rss, coordinator = sample(run)
        wall = time.perf_counter() - started
        if run.wait() not in OK_EXITS:  # the run's own error, not the drop's after it
            error = errors.read_bytes()[-500:]
            raise SystemExit(f"{' '.join(command)} exited {run.returncode}: {error!r}")
        drop(target, contract)
    workers = sum(cpu.values())  # the Manager's share is small (0.05 s a run)
    print(
        f"{documents} documents, {args.workers} worker(s): wall {wall:.2f} s; workers' CPU "
        f"{workers:.2f} s = {workers / documents * 1000:.3f} ms a document; coordinator "
        f"CPU {coordinator:.2f} s; largest RSS "
        + ", ".join(f"{value / 2**20:.0f} MB" for value in sorted(rss.values()))
    )


if __name__ == "__main__":
    main()
