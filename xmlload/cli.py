"""The `xmlload` command: parses arguments, calls the package, prints what it returns and
turns errors into exit statuses. What to do with a document is decided elsewhere."""

from __future__ import annotations

import argparse
import difflib
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from xmlload import __version__
from xmlload.collector import collector_paused
from xmlload.errors import SettingsError, XmlloadError
from xmlload.parallel.executors import EXECUTORS
from xmlload.states import Stage

if TYPE_CHECKING:
    from rich.console import Console

    from xmlload.contract.compiler import Plan
    from xmlload.processor import ProductionProcessor

# What a command needs (SQLAlchemy, the contract compiler, rich) is imported when it runs:
# `xmlload --help` and a mistyped flag answer without loading any of it.
STAGES = tuple(Stage)


class _DialectSchemes:
    """`contract ddl --dialect` choices, read from the dialect registry only when the
    option is used or its help is shown (the registry imports every database driver)."""

    def _names(self) -> list[str]:
        from xmlload.db.dialects import schemes

        return schemes()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()


EXIT_USAGE = 2
EXIT_FAILED = 3
RUN_FLAGS = (
    "contract",
    "source",
    "source_table",
    "id_column",
    "xml_column",
    "target",
    "workers",
    "executor",
    "scheduler",
    "chunk_size",
    "limit",
    "id_start",
    "id_end",
    "max_document_bytes",
    "doc_timeout",
    "max_worker_memory",
    "shard",
    "progress",
    "report",
    "source_updated_column",
    "checkpoint_lookback",
)


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--contract", type=Path, help="mapping contract (YAML or JSON)")
    parser.add_argument("--source", help="directory, glob or file of XML; or a database URL")
    parser.add_argument("--source-table", help="table holding the documents (database source)")
    parser.add_argument("--id-column", help="source id column (default id)")
    parser.add_argument("--xml-column", help="source XML column (default xml)")
    parser.add_argument("--target", help="target database URL or SQLite file path")
    parser.add_argument("--workers", type=int, help="worker processes (default 1)")
    parser.add_argument(
        "--executor",
        choices=list(EXECUTORS),
        help="; ".join(f"{kind.name}: {kind.description}" for kind in EXECUTORS.values()),
    )
    parser.add_argument(
        "--scheduler", help="Dask scheduler address, tcp://HOST:8786 (default: a local cluster)"
    )
    parser.add_argument("--chunk-size", type=int, help="documents per work item")
    parser.add_argument("--limit", type=int, help="load at most N documents")
    parser.add_argument("--id-start", type=int, help="lowest source id to load")
    parser.add_argument("--id-end", type=int, help="highest source id to load")
    parser.add_argument("--max-document-bytes", type=int, help="size cap per document")
    parser.add_argument("--doc-timeout", type=float, help="seconds per document (default 300)")
    parser.add_argument("--shard", help="K/N: only source ids with id %% N == K")
    parser.add_argument(
        "--max-worker-memory",
        type=int,
        help="MB of RSS after which a worker is replaced between chunks",
    )
    parser.add_argument(
        "--progress",
        choices=["auto", "bar", "log", "none"],
        help="live bar on a terminal, log lines otherwise (auto)",
    )
    parser.add_argument("--report", type=Path, help="write a JSON run report here")
    parser.add_argument(
        "--create-tables",
        action="store_true",
        default=None,
        help="create missing tables and the processing log",
    )
    parser.add_argument(
        "--no-resume",
        dest="resume",
        action="store_false",
        default=None,
        help="also reload documents already in the processing log",
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        default=None,
        help="load new documents and reload those whose source bytes changed since logged",
    )
    parser.add_argument(
        "--close-missing",
        action="store_true",
        default=None,
        help="with --refresh: delete the rows of logged documents no longer in the source",
    )
    parser.add_argument(
        "--source-updated-column",
        help="table sources: a timestamp or increasing column; read only rows past the "
        "checkpoint saved by the last complete run (implies --refresh)",
    )
    parser.add_argument(
        "--checkpoint-lookback",
        type=float,
        help="read again rows this far behind the checkpoint (seconds for a timestamp, "
        "units for a number): rows committed late with an older value (default 0)",
    )
    parser.add_argument(
        "--rehash",
        action="store_true",
        default=None,
        help="with --refresh: reload documents logged before fingerprints were kept",
    )
    parser.add_argument("--config", type=Path, help="settings file (default config/xmlload.toml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xmlload",
        description="Load XML documents into relational databases, driven by a mapping "
        "contract: exactly once per document, resumable, in parallel.",
        epilog="`xmlload COMMAND --help` shows a command's options. Docs: README.md, "
        "docs/contract.md.",
    )
    parser.add_argument("--version", action="version", version=f"xmlload {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    _run_options(commands.add_parser("run", help="load documents into the target database"))

    reprocess = commands.add_parser("reprocess", help="load failed or chosen documents again")
    _run_options(reprocess)
    which = reprocess.add_mutually_exclusive_group(required=True)
    which.add_argument("--failed", action="store_true", help="documents the log lists as failed")
    which.add_argument("--ids", help="comma-separated source ids (or file paths)")
    which.add_argument("--ids-file", help="file with one source id per line; - for stdin")
    reprocess.add_argument("--stage", choices=STAGES, help="with --failed: only this stage")

    verify = commands.add_parser("verify", help="map documents again and compare with the database")
    _run_options(verify)
    chosen = verify.add_mutually_exclusive_group()
    chosen.add_argument("--sample", type=int, help="check N random logged documents")
    chosen.add_argument("--ids", help="comma-separated source ids (or file paths)")
    chosen.add_argument("--ids-file", help="file with one source id per line; - for stdin")

    status = commands.add_parser("status", help="summarise the processing log")
    status.add_argument("--target", required=True, help="target database URL")
    status.add_argument("--schema", help="schema of the processing log (target_schema)")
    status.add_argument("--stage", choices=STAGES, help="failed documents of this stage only")
    shown = status.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="machine-readable output")
    shown.add_argument(
        "--failed-ids", action="store_true", help="print only failed source ids, one per line"
    )

    contract = commands.add_parser(
        "contract", help="check a contract, print its DDL, or import an XmlConversion one"
    )
    contract_commands = contract.add_subparsers(dest="contract_command", required=True)
    imported = contract_commands.add_parser(
        "import", help="translate an XmlConversion JSON contract into a contract of ours"
    )
    imported.add_argument("file", help="the XmlConversion mapping_contract JSON")
    imported.add_argument("--out", type=Path, help="write the YAML here (default: stdout)")
    imported.add_argument(
        "--fix-reference-defects",
        action="store_true",
        help="write correct behaviour where the reference is defective (default: its rows)",
    )
    validate = contract_commands.add_parser("validate", help="validate a contract")
    validate.add_argument("file")
    validate.add_argument(
        "--sample",
        nargs="+",
        metavar="DIR_OR_FILE",
        help="map these documents without writing; report tables and columns that got "
        "nothing, and what the samples hold that no path reads (exit 3 on findings)",
    )
    validate.add_argument(
        "--max-document-bytes", type=int, default=32 << 20, help="size cap of a sample"
    )
    check = contract_commands.add_parser("check", help="compare with a live database")
    check.add_argument("file")
    check.add_argument("--target", required=True, help="target database URL")
    ddl = contract_commands.add_parser("ddl", help="print CREATE TABLE statements")
    ddl.add_argument("file")
    ddl.add_argument(
        "--dialect",
        default="sqlite",
        choices=_DialectSchemes(),  # type: ignore[arg-type]
        metavar="DIALECT",
        help="one of: %(choices)s (default sqlite)",
    )

    generate = commands.add_parser("generate", help="make synthetic documents")
    generate.add_argument("--documents", type=int, required=True, help="how many documents")
    generate.add_argument(
        "--seed", type=int, default=1, help="random seed: the same seed, the same documents"
    )
    generate.add_argument("--first-id", type=int, default=1, help="id of the first document")
    generate.add_argument(
        "--median-kb", type=float, default=40.0, help="median document size in KB (default 40)"
    )
    generate.add_argument(
        "--bad-ratio", type=float, default=0.0, help="share of deliberately bad documents (0..1)"
    )
    where = generate.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="directory for .xml files")
    where.add_argument("--source", help="database URL for a source table")
    generate.add_argument(
        "--source-table", default="xml_documents", help="table for --source (default xml_documents)"
    )

    bench = commands.add_parser("bench", help="throughput per worker count vs the parse ceiling")
    for flag, text in (
        ("--contract", "mapping contract"),
        ("--source", "files or database URL"),
        ("--source-table", "source table"),
        ("--id-column", "source id column"),
        ("--xml-column", "source XML column"),
        ("--target", "target URL"),
        ("--chunk-size", "documents per work item"),
        ("--limit", "at most N"),
    ):
        bench.add_argument(
            flag, type=int if flag in ("--chunk-size", "--limit") else None, help=text
        )
    bench.add_argument(
        "--workers",
        dest="worker_counts",
        default="1,2",
        help="comma-separated worker counts (default 1,2)",
    )
    bench.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per count, each right after its own ceiling; the median counts",
    )
    bench.add_argument(
        "--out",
        type=Path,
        default=Path("bench-results"),
        help="directory for the report, table and chart (default bench-results)",
    )
    bench.add_argument(
        "--loop",
        type=int,
        default=1,
        help="file sources: use N copies of each document, each with a new id",
    )
    bench.add_argument(
        "--keep-corpus",
        action="store_true",
        help="keep the --loop copies in --out/corpus (default: a temporary directory)",
    )
    bench.add_argument("--config", type=Path, help="settings file (default config/xmlload.toml)")

    demo = commands.add_parser("demo", help="generate documents into SQLite and load them")
    demo.add_argument(
        "--documents", type=int, default=500, help="documents to generate (default 500)"
    )
    demo.add_argument(
        "--workdir",
        type=Path,
        default=Path("xmlload-demo"),
        help="where the source and target databases go (default xmlload-demo)",
    )
    demo.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    return parser


def _start_worker_server(args: argparse.Namespace) -> None:
    """For commands that run workers on this machine: start the server they are forked
    from first, so its imports overlap the command's own and the checks after them."""
    if args.command in ("run", "reprocess") and args.executor in (None, "pool"):
        from xmlload.parallel.processes import start_worker_server

        start_worker_server()  # (a config file naming dask costs an idle server)


def _processor(args: argparse.Namespace) -> ProductionProcessor:
    with collector_paused():
        from xmlload.processor import ProductionProcessor
        from xmlload.settings import load_settings

        flags = {name: getattr(args, name) for name in RUN_FLAGS}
        flags.update(create_tables=args.create_tables, resume=args.resume, refresh=args.refresh,
                     rehash=args.rehash, close_missing=args.close_missing)  # fmt: skip
        return ProductionProcessor(load_settings(flags, args.config))


def command_run(args: argparse.Namespace, console: Console) -> int:
    summary = _processor(args).run(ignore_signals_after_stop=True)
    summary.render(console)
    return summary.exit_code


def _read_ids(args: argparse.Namespace) -> list[str]:
    if args.ids is not None:
        return args.ids.split(",")
    # one key per line: paths may contain spaces
    if args.ids_file == "-":
        return sys.stdin.read().splitlines()
    try:
        return Path(args.ids_file).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise XmlloadError(f"--ids-file {args.ids_file}: {error.strerror}") from None


def command_reprocess(args: argparse.Namespace, console: Console) -> int:
    processor = _processor(args)
    if args.failed:
        items = processor.failed_items(args.stage)
    else:
        items = processor.items_from_keys(_read_ids(args))
    console.print(f"Reprocessing {len(items):,} documents")
    summary = processor.run(items=items, ignore_signals_after_stop=True)
    summary.render(console)
    return summary.exit_code


def command_verify(args: argparse.Namespace, console: Console) -> int:
    from xmlload.sources import open_source
    from xmlload.verify import Verifier

    processor = _processor(args)
    source = open_source(processor.source_config)
    verifier = Verifier(
        processor.plan, processor.target_url, source, processor.settings.max_document_bytes
    )
    try:
        if args.ids is not None or args.ids_file is not None:
            keys = _read_ids(args)
            report = verifier.verify(processor.items_from_keys(keys))
            unlogged = all(check.status is None for check in report.checks)
            if report.checks and unlogged and not report.differing:
                raise XmlloadError(
                    f"nothing to verify: none of the {len(report.checks)} documents is in "
                    "the processing log (not loaded yet)"
                )
        else:
            report = verifier.verify(processor.items_from_keys(verifier.logged_keys(args.sample)))
            report.checks.extend(verifier.orphans())
    finally:
        verifier.close()
        source.close()
    counts = ", ".join(f"{n:,} {status}" for status, n in sorted(report.counts().items()))
    for check in report.differing[:50]:
        for problem in check.problems:
            print(f"{check.source_key} (document {check.document_id}): {problem}")
    print(
        f"verified {len(report.checks):,} documents ({counts}): "
        f"{len(report.differing):,} with differences"
    )
    return EXIT_FAILED if report.differing else 0


def command_status(args: argparse.Namespace, console: Console) -> int:
    from xmlload.db.urls import parse_url
    from xmlload.status import read_status

    report = read_status(parse_url(args.target), args.schema, args.stage)
    if args.failed_ids:
        for key in report.failed_keys:
            print(key)
    elif args.json:
        print(report.to_json())
    else:
        report.render(console)
    return 0


def command_contract(args: argparse.Namespace, console: Console) -> int:
    from xmlload.contract.loader import load_plan

    if args.contract_command == "import":
        return _import_contract(args)
    plan = load_plan(args.file)
    if args.contract_command == "validate":
        tables = ", ".join(f"{t.name} ({len(t.columns)} columns)" for t in plan.tables)
        for warning in plan.warnings:
            print(f"warning: {warning}")
        console.print(f"{args.file}: valid; {len(plan.tables)} tables: {tables}")
        return _check_samples(plan, args, console) if args.sample else 0
    if args.contract_command == "check":
        return _check_contract(plan, args)
    from sqlalchemy.engine import make_url

    from xmlload.db.processing_log import log_table
    from xmlload.db.schema import build_metadata, ddl_statements, sql_type

    dialect = make_url(f"{args.dialect}://").get_dialect()()
    metadata = build_metadata(plan)
    log_table(metadata, sql_type(plan.id_kind), plan.contract.target_schema)
    for statement in ddl_statements(metadata, dialect):
        print(statement + "\n")
    return 0


def _check_samples(plan: Plan, args: argparse.Namespace, console: Console) -> int:
    from xmlload.contract.samples import check_samples, sample_files

    files = list(sample_files(args.sample))
    if not files:
        raise SettingsError(f"--sample {' '.join(args.sample)}: no XML files there")
    report = check_samples(plan, files, args.max_document_bytes)
    mapped = report.samples - len(report.failed)
    what = "records" if plan.records is not None else "documents"
    console.print(f"samples: {report.files} files, {report.samples:,} {what}, {mapped:,} mapped, "
                  f"{len(report.failed)} failed")  # fmt: skip
    for file, message in report.failed:
        console.print(f"  {file}: {message}", markup=False)
    findings = report.empty_tables + report.empty_columns
    if findings:
        console.print(f"matched nothing in any of the {mapped} mapped samples:")
    for finding in findings:
        console.print(f"  {finding}", markup=False)
    if report.unread:
        console.print("in the samples but read by no path (most frequent first):")
    for feature, count in report.unread:
        console.print(f"  {feature}: in {count} of {mapped} samples", markup=False)
    return 0 if report.clean else EXIT_FAILED


def _import_contract(args: argparse.Namespace) -> int:
    from xmlload.contract.importing import import_contract

    result = import_contract(args.file, args.fix_reference_defects)
    if result.problems:
        for problem in result.problems:
            print(problem, file=sys.stderr)
        print(f"{args.file}: not imported ({len(result.problems)} problems)", file=sys.stderr)
        return 2
    if args.out is None:
        sys.stdout.write(result.text)
        return 0
    args.out.write_text(result.text, encoding="utf-8")
    print(
        f"{args.out}: {result.yaml_lines} lines of YAML from {result.json_lines} lines of JSON",
        file=sys.stderr,
    )
    return 0


def _check_contract(plan: Plan, args: argparse.Namespace) -> int:
    """Plain lines (no wrapping), so the output can be grepped and piped."""
    from xmlload.db.check import check_target
    from xmlload.db.urls import mask_url, parse_url

    url = parse_url(args.target)
    differences = check_target(url, plan)
    for difference in differences:
        print(difference)
    fatal = sum(difference.fatal for difference in differences)
    if differences:
        print(f"{mask_url(url)}: {len(differences)} difference(s), {fatal} that would fail loads")
    else:
        print(f"{mask_url(url)} matches the contract")
    return EXIT_USAGE if fatal else 0


def command_generate(args: argparse.Namespace, console: Console) -> int:
    from xmlload.db.urls import mask_url
    from xmlload.generate import DocumentGenerator, write_files, write_table

    if args.documents < 1 or not 0 <= args.bad_ratio <= 1:
        raise XmlloadError("--documents must be >= 1 and --bad-ratio between 0 and 1")
    generator = DocumentGenerator(args.seed, args.median_kb, args.bad_ratio)
    started = time.perf_counter()
    if args.out is not None:
        kinds = write_files(generator, args.documents, args.first_id, args.out)
        where = str(args.out)
    else:
        kinds = write_table(
            generator, args.documents, args.first_id, args.source, args.source_table
        )
        where = f"{mask_url(args.source)} table {args.source_table}"
    elapsed = time.perf_counter() - started
    console.print(f"{args.documents:,} documents to {where} in {elapsed:.1f} s: {dict(kinds)}")
    return 0


def command_bench(args: argparse.Namespace, console: Console) -> int:
    from xmlload.bench import CHART_EXTRA, chart_available, loop_corpus, render, run_bench
    from xmlload.settings import load_settings

    try:
        counts = [int(n) for n in args.worker_counts.split(",")]
    except ValueError:
        raise XmlloadError(f"--workers {args.worker_counts!r}: want counts like 1,2,4") from None
    if not counts or min(counts) < 1 or args.repeat < 1 or args.loop < 1:
        raise XmlloadError("--workers, --repeat and --loop must be positive")
    names = (
        "contract",
        "source",
        "source_table",
        "id_column",
        "xml_column",
        "target",
        "chunk_size",
        "limit",
    )
    settings = load_settings({name: getattr(args, name) for name in names}, args.config)
    name = settings.source
    with tempfile.TemporaryDirectory(prefix="xmlload-bench-") as scratch:
        if args.loop > 1:
            if (
                settings.source is None
                or not Path(settings.source).is_dir()
                or not settings.contract
            ):
                raise XmlloadError("--loop needs --contract and a directory --source")
            # the copies are large: kept in --out only when asked
            looped = args.out / "corpus" if args.keep_corpus else Path(scratch) / "corpus"
            written = loop_corpus(settings.contract, Path(settings.source), looped, args.loop)
            console.print(f"{written:,} documents in {looped}")
            name = f"{settings.source} x{args.loop}"
            settings = settings.model_copy(update={"source": str(looped)})
        rows = run_bench(settings, counts, args.repeat, args.out, console, name)
    render(rows, console)
    if chart_available():
        console.print(f"Results: {args.out / 'bench.json'}, chart: {args.out / 'bench.png'}")
    else:
        console.print(f"Results: {args.out / 'bench.json'}; no chart: matplotlib is not "
                      f"installed ({CHART_EXTRA})", markup=False)  # fmt: skip
    return 0


def command_demo(args: argparse.Namespace, console: Console) -> int:
    from xmlload.demo import run_demo

    return run_demo(args.documents, args.workdir, args.workers, console)


COMMANDS = {
    "run": command_run,
    "reprocess": command_reprocess,
    "status": command_status,
    "verify": command_verify,
    "contract": command_contract,
    "generate": command_generate,
    "bench": command_bench,
    "demo": command_demo,
}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse; a mistyped option is reported by its command, with the closest option."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if not extra:
        return args
    command = _subparser(parser, args.command)
    nested = getattr(args, "contract_command", None)
    if nested is not None:
        command = _subparser(command, nested)
    options = [o for action in command._actions for o in action.option_strings]
    hints = []
    for word in extra:
        close = difflib.get_close_matches(word.split("=")[0], options, n=1)
        if word.startswith("-") and close:
            hints.append(f"{word} (did you mean {close[0]}?)")
        else:
            hints.append(word)
    command.error(f"unrecognized arguments: {', '.join(hints)}")


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    return parser


def output_console(stderr: bool = False) -> Console:
    """Rich output; when it goes to a file or a pipe, lines are not wrapped at 80 columns
    (commands, paths and log lines stay whole) and tables take the width they need."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if console.is_terminal:
        return console
    return Console(stderr=stderr, soft_wrap=True, width=240)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    _start_worker_server(args)
    with collector_paused():
        from sqlalchemy.exc import DBAPIError

        from xmlload.db.target import describe_db_error

        console = output_console()
    try:
        return COMMANDS[args.command](args, console)
    except XmlloadError as error:  # contract, settings, target: nothing was loaded
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except DBAPIError as error:  # a database refusal no stage turned into its own error
        print(f"error: database: {describe_db_error(error)}", file=sys.stderr)
        return EXIT_USAGE
