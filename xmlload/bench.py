"""`xmlload bench`: load the same documents with each worker count into a fresh target and
compare with the raw lxml parse rate of those documents on as many processes (the parse
ceiling). Prints a table and writes bench.json and bench.png."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import multiprocessing
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml
from lxml import etree
from rich.console import Console
from rich.table import Table

from xmlload.contract.loader import load_plan
from xmlload.contract.paths import Locator, XmlPath, element_locator
from xmlload.db.target import connect_engine
from xmlload.db.urls import parse_url
from xmlload.parallel.allocator import worker_allocator, workers_allocator
from xmlload.processor import ProductionProcessor
from xmlload.settings import Settings
from xmlload.sources import SourceConfig, SourceItem, open_source

_source = None


@dataclass
class BenchRow:
    workers: int
    documents: int
    failed: int
    seconds: float
    docs_per_minute: float
    rows_per_second: float
    mb_per_second: float
    speedup: float
    efficiency: float
    peak_rss_mb: float  # the largest worker
    ceiling_docs_per_minute: float
    fraction_of_ceiling: float
    stage_seconds: dict[str, float]
    allocator: str = ""  # what the workers and the ceiling's processes allocate with


def _open_for_ceiling(config: SourceConfig) -> None:
    global _source
    _source = open_source(config)


def _parse_items(items: list[SourceItem]) -> int:
    """Read and parse documents the way a worker does, with nothing else."""
    assert _source is not None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    count = 0
    for document in _source.read(items):
        count += 1
        if document.data:
            # a malformed document costs its parse attempt and counts, as in a real load
            with contextlib.suppress(etree.XMLSyntaxError):
                etree.fromstring(document.data, parser)
    return count


def parse_ceiling(
    config: SourceConfig, items: list[SourceItem], processes: int, chunk_size: int
) -> float:
    """Documents per minute that `processes` processes manage just reading and parsing."""
    chunks = [items[i : i + chunk_size] for i in range(0, len(items), chunk_size)]
    context = multiprocessing.get_context("spawn")
    with worker_allocator():  # the allocator the workers run with (see processes.py)
        pool = context.Pool(processes, initializer=_open_for_ceiling, initargs=(config,))
    with pool:
        pool.map(_parse_items, [[] for _ in range(processes)])  # start-up is not measured
        started = time.perf_counter()
        parsed = sum(pool.imap_unordered(_parse_items, chunks))
        elapsed = time.perf_counter() - started
    return parsed / elapsed * 60


class _FreshTarget:
    """A new SQLite file, or a new schema on a server, per measured run."""

    def __init__(self, base: Settings, label: str, folder: Path) -> None:
        self.url = parse_url(base.target)
        self.settings = base
        if self.url.get_backend_name() == "sqlite":
            self.target = f"sqlite:///{folder / f'bench-{label}.db'}"
            self.contract, self.schema = base.contract, None
        else:
            self.schema = f"xmlload_bench_{uuid.uuid4().hex[:8]}"
            data = yaml.safe_load(Path(str(base.contract)).read_text(encoding="utf-8"))
            data["target_schema"] = self.schema
            self.contract = folder / f"contract-{label}.yaml"
            self.contract.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
            self.target = base.target

    def drop(self) -> None:
        """Remove what the run created: the SQLite file (with WAL and SHM) or the schema."""
        if self.schema is None:
            database = parse_url(self.target).database or ""
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)
            return
        strategy, engine = connect_engine(self.url)
        with engine.begin() as connection:
            strategy.drop_schema(connection, self.schema)
        engine.dispose()


def _measure(base: Settings, workers: int, label: str, folder: Path) -> BenchRow:
    fresh = _FreshTarget(base, label, folder)
    settings = base.model_copy(
        update={
            "workers": workers,
            "contract": fresh.contract,
            "target": fresh.target,
            "create_tables": True,
            "resume": True,
            "progress": "none",
            "report": None,
        }
    )
    try:
        summary = ProductionProcessor(settings).run()
    finally:
        fresh.drop()
    seconds = summary.load_seconds  # like the ceiling, without process start-up
    return BenchRow(
        workers=workers,
        documents=summary.documents,
        failed=summary.failed,
        seconds=seconds,
        docs_per_minute=summary.documents / seconds * 60,
        rows_per_second=sum(summary.rows_by_table.values()) / seconds,
        mb_per_second=summary.bytes_read / 1e6 / seconds,
        speedup=0.0,
        efficiency=0.0,
        peak_rss_mb=max(summary.peak_rss.values(), default=0) / 2**20,
        ceiling_docs_per_minute=0.0,
        fraction_of_ceiling=0.0,
        stage_seconds={k: round(v, 3) for k, v in summary.stage_seconds.items()},
    )


def run_bench(
    base: Settings,
    worker_counts: list[int],
    repeat: int,
    out: Path,
    console: Console,
    source_name: str | None = None,
) -> list[BenchRow]:
    out.mkdir(parents=True, exist_ok=True)
    config = base.source_config()
    source = open_source(config)
    items = [item for page in source.pages(base.page_size) for item in page]
    source.close()
    if base.limit:
        items = items[: base.limit]
    rows = []
    for workers in worker_counts:
        runs = []
        for turn in range(repeat):  # each run next to its own ceiling: a busy minute
            ceiling = parse_ceiling(config, items, workers, base.chunk_size)  # moves both
            run = _measure(base, workers, f"w{workers}-r{turn}", out)
            run.ceiling_docs_per_minute = ceiling
            run.fraction_of_ceiling = run.docs_per_minute / ceiling
            run.allocator = workers_allocator()
            runs.append(run)
        best = sorted(runs, key=lambda row: row.fraction_of_ceiling)[len(runs) // 2]  # median
        rows.append(best)
        console.print(
            f"workers={workers}: {best.docs_per_minute:,.0f} docs/min, ceiling "
            f"{best.ceiling_docs_per_minute:,.0f} docs/min (both allocating with "
            f"{best.allocator})"
        )
    base_rate = rows[0].docs_per_minute / rows[0].workers
    for row in rows:
        row.speedup = row.docs_per_minute / rows[0].docs_per_minute
        row.efficiency = row.docs_per_minute / (base_rate * row.workers)
    (out / "bench.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))
    about = (
        f"{len(items):,} documents from {source_name or base.source}; target "
        f"{parse_url(base.target).get_backend_name()}; {os.cpu_count()} cores"
    )
    if chart_available():
        draw_chart(rows, out / "bench.png", about)
    return rows


def render(rows: list[BenchRow], console: Console) -> None:
    table = Table(
        title="xmlload bench",
        caption="ceiling: reading and parsing the same documents (lxml.etree.fromstring) with "
        "as many processes; see the chart's note",
    )
    for header in ("workers", "docs/min", "rows/s", "MB/s", "speedup", "efficiency",
                   "peak MB", "ceiling/min", "of ceiling"):  # fmt: skip
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    for row in rows:
        table.add_row(
            str(row.workers),
            f"{row.docs_per_minute:,.0f}",
            f"{row.rows_per_second:,.0f}",
            f"{row.mb_per_second:.1f}",
            f"{row.speedup:.2f}",
            f"{row.efficiency:.2f}",
            f"{row.peak_rss_mb:.0f}",
            f"{row.ceiling_docs_per_minute:,.0f}",
            f"{row.fraction_of_ceiling:.0%}",
        )
    console.print(table)


CEILING_NOTE = (
    "Ceiling: the same documents read and parsed with lxml.etree.fromstring (default parser) "
    "by as many processes, nothing else.\nxmlload's parser drops indentation between elements, "
    "which builds trees faster, so a load can come out above it."
)


CHART_EXTRA = "pip install 'xmlload[chart]' (matplotlib), or pip install -e '.[chart]' here"


def chart_available() -> bool:
    """Whether matplotlib (the `chart` extra) is installed: the chart is optional."""
    return importlib.util.find_spec("matplotlib") is not None


def draw_chart(rows: list[BenchRow], path: Path, about: str) -> None:
    """Rates on the left axis (blue), parallel efficiency on the right (green); the
    legend below the plot, where it covers no point."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    workers = [row.workers for row in rows]
    figure, rate_axis = pyplot.subplots(figsize=(8, 5.2))
    rate_axis.plot(workers, [r.docs_per_minute for r in rows], "o-", color="tab:blue",
                   label="xmlload load, docs/min (left)")  # fmt: skip
    rate_axis.plot(workers, [r.ceiling_docs_per_minute for r in rows], "s--",
                   color="tab:gray", label="parse ceiling, docs/min (left)")  # fmt: skip
    rate_axis.set_xlabel("workers")
    rate_axis.set_ylabel("documents per minute", color="tab:blue")
    rate_axis.tick_params(axis="y", colors="tab:blue")
    rate_axis.set_xticks(workers)
    rate_axis.set_ylim(bottom=0)
    efficiency_axis = rate_axis.twinx()
    efficiency_axis.plot(workers, [r.efficiency for r in rows], "^:", color="tab:green",
                         label="parallel efficiency (right)")  # fmt: skip
    efficiency_axis.set_ylim(0, 1.1)
    efficiency_axis.set_ylabel("parallel efficiency", color="tab:green")
    efficiency_axis.tick_params(axis="y", colors="tab:green")
    rate_axis.set_title(f"xmlload bench: {about}", fontsize=9)
    handles = rate_axis.get_legend_handles_labels()
    more = efficiency_axis.get_legend_handles_labels()
    figure.legend(handles[0] + more[0], handles[1] + more[1], loc="lower center", ncol=3,
                  fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.09))  # fmt: skip
    figure.text(0.5, 0.01, CEILING_NOTE, ha="center", fontsize=7, color="dimgray")
    figure.tight_layout(rect=(0, 0.16, 1, 1))
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def loop_corpus(contract: Path, source: Path, out: Path, copies: int) -> int:
    """Copy every .xml under `source` `copies` times into `out`, giving each copy a new
    document id (numeric ids + copy * 10**8, others + '-copy'), so each is a new document."""
    plan = load_plan(contract)
    id_path = plan.id_path or XmlPath(True, (), None)  # an id from the file name: new names
    holder_path = XmlPath(id_path.absolute, id_path.steps, None)
    find_holder, attribute = element_locator(holder_path), id_path.attribute
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for file in sorted(source.rglob("*.xml")):
        data = file.read_bytes()
        for copy in range(copies):
            (out / f"{copy:04d}-{file.name}").write_bytes(
                _with_new_id(data, copy, find_holder, attribute)
            )
            written += 1
    return written


def _with_new_id(data: bytes, copy: int, find_holder: Locator, attribute: str | None) -> bytes:
    if copy == 0:
        return data
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return data  # a malformed document stays as it is: it fails the same way each time
    holder = find_holder(root, root)
    if holder is None or attribute is None or holder.get(attribute) is None:
        return data
    value = holder.get(attribute).strip()
    new = str(int(value) + copy * 10**8) if value.isdigit() else f"{value}-{copy}"
    holder.set(attribute, new)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
