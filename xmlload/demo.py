"""`xmlload demo`: the embedded default end to end. Generate documents into an SQLite
source table, load them into an SQLite target with the example contract, show the result."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rich.console import Console

from xmlload.generate import DocumentGenerator, write_table
from xmlload.processor import ProductionProcessor
from xmlload.settings import Settings


def example_contract() -> Path:
    """The credit-application contract shipped inside the package."""
    return Path(str(resources.files("xmlload") / "data" / "credit_application.yaml"))


def run_demo(documents: int, workdir: Path, workers: int, console: Console) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    source, target = workdir / "source.db", workdir / "target.db"
    for stale in (source, target):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{stale}{suffix}").unlink(missing_ok=True)
    console.print(f"Generating {documents:,} documents (2% deliberately bad) into {source} ...")
    kinds = write_table(
        DocumentGenerator(seed=42, bad_ratio=0.02),
        documents,
        1,
        f"sqlite:///{source}",
        "xml_documents",
    )
    console.print(f"Generated: {dict(kinds)}")
    settings = Settings(
        contract=example_contract(),
        source=f"sqlite:///{source}",
        source_table="xml_documents",
        target=f"sqlite:///{target}",
        workers=workers,
        create_tables=True,
    )
    summary = ProductionProcessor(settings).run()
    summary.render(console)
    console.print(
        f"\nTarget database: {target.resolve()}\nTry: sqlite3 {target} "
        '"SELECT status, stage, count(*) FROM processing_log GROUP BY 1, 2"'
    )
    return 0 if summary.stopped_by is None else summary.exit_code
