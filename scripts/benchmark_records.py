#!/usr/bin/env python3
"""One big file of records on one and on two workers, against its raw streaming parse:

    python scripts/benchmark_records.py --megabytes 1024 \
        --target postgresql://postgres@127.0.0.1/test

Generates a MEDLINE-like file (PubmedArticle records) of the given size and loads it with
contracts/examples/medline.yaml on 1 and 2 workers (each into a fresh schema, dropped
afterwards). The ceiling is `lxml.etree.iterparse` of the same file with clearing, in one
process, and in two processes each over half of the records (the parts the coordinator
hands out, read as the workers read them). Prints records/s, the ratio to the ceiling
with as many processes, and peak RSS per process. The file is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
import yaml
from lxml import etree

from xmlload.sources.file_parts import open_part, split_file

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "contracts" / "examples" / "medline.yaml"
STEPS = ("PubmedArticleSet", "PubmedArticle")
LOREM = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. "


def record(n: int) -> str:
    authors = "".join(
        f'<Author ValidYN="Y"><LastName>Name{n}_{a}</LastName><ForeName>F{a}</ForeName>'
        "<Initials>F</Initials></Author>"
        for a in range(n % 5 + 1)
    )
    mesh = "".join(
        f'<MeshHeading><DescriptorName UI="D{n % 999:06d}" MajorTopicYN="N">Topic {k}'
        "</DescriptorName></MeshHeading>"
        for k in range(n % 7 + 2)
    )
    return (
        f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{n}'
        f"</PMID><DateCompleted><Year>2020</Year><Month>0{n % 9 + 1}</Month><Day>1{n % 9}</Day>"
        f'</DateCompleted><Article PubModel="Print"><Journal><ISSN IssnType="Print">'
        f"1234-{n % 9999:04d}</ISSN><Title>Journal of things {n % 50}</Title></Journal>"
        f"<ArticleTitle>On the &lt;measurement&gt; of item {n} &amp; others</ArticleTitle>"
        f"<Abstract><AbstractText>{LOREM * (n % 8 + 2)}</AbstractText></Abstract>"
        f'<AuthorList CompleteYN="Y">{authors}</AuthorList><Language>eng</Language></Article>'
        f"<MeshHeadingList>{mesh}</MeshHeadingList></MedlineCitation></PubmedArticle>\n"
    )


def write_file(path: Path, megabytes: int) -> int:
    """The file, and how many records it holds."""
    with path.open("w", encoding="utf-8") as file:
        file.write('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE PubmedArticleSet>\n'
                   "<PubmedArticleSet>\n")  # fmt: skip
        count = size = 0
        while size < megabytes << 20:
            count += 1
            size += file.write(record(count))
        file.write("</PubmedArticleSet>\n")
    return count


def _iterparse(stream: object) -> int:
    count = 0
    for _, element in etree.iterparse(stream, events=("end",), tag=STEPS[-1]):
        count += 1
        element.clear(keep_tail=False)
        while element.getprevious() is not None:
            del element.getparent()[0]
    return count


def _parse_parts(args: tuple[str, int, int]) -> tuple[int, int]:
    """Records in every `step`-th part from `start`, and this process's peak RSS (KB)."""
    path, start, step = args
    count = 0
    for index, part in enumerate(split_file(path, STEPS)):
        if index % step == start:
            with open_part(part) as stream:
                count += _iterparse(stream)
    return count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def ceiling(path: Path, processes: int) -> tuple[float, int]:
    """Seconds to parse every record with `processes` processes, and the peak RSS (KB)."""
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        results = pool.map(_parse_parts, [(str(path), n, processes) for n in range(processes)])
    return time.perf_counter() - started, max(rss for _, rss in results)


def load(path: Path, target: str, workers: int, folder: Path) -> tuple[float, str, float]:
    """Seconds, each worker's peak RSS, and the coordinator's (MB)."""
    schema = f"xl_bench_{uuid.uuid4().hex[:8]}"
    data = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    data["target_schema"] = schema
    contract = folder / f"{schema}.yaml"
    contract.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "xmlload", "run", "--contract", str(contract), "--source",
         str(path), "--target", target, "--create-tables", "--progress", "none",
         "--workers", str(workers), "--report", str(folder / "report.json")],
        capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    engine = sa.create_engine(target)
    with engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    peaks = json.loads((folder / "report.json").read_text())["peak_rss_mb"]
    workers_mb = "; ".join(f"{mb:.0f} MB" for name, mb in peaks.items() if name != "coordinator")
    return elapsed, workers_mb, peaks.get("coordinator", 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=1024)
    parser.add_argument("--target", default="postgresql+psycopg://postgres@127.0.0.1/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xmlload-records-") as scratch:
        folder = Path(scratch)
        path = folder / "medline.xml"
        count = write_file(path, args.megabytes)
        print(f"{path.stat().st_size / 2**20:,.0f} MB, {count:,} records")
        for workers in (1, 2):
            parse_seconds, parse_rss = ceiling(path, workers)
            seconds, peaks, coordinator = load(path, args.target, workers, folder)
            print(f"{workers} worker(s): {count / seconds:,.0f} records/s ({seconds:.1f} s); "
                  f"ceiling {count / parse_seconds:,.0f} records/s ({parse_seconds:.1f} s); "
                  f"of ceiling {parse_seconds / seconds:.2f}; peak RSS per worker {peaks}, "
                  f"coordinator {coordinator:.0f} MB, per parsing process "
                  f"{parse_rss / 1024:.0f} MB", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
