"""`xmlload bench` end to end on a small looped corpus (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import CONTRACT, MYSQL_URL, POSTGRES_URL
from tests.helpers import copy_corpus_files
from xmlload.bench import loop_corpus
from xmlload.cli import main

FILES = ["sample--142305.xml", "sample--127582.xml", "sample-source-xml-wrong-schema--600000.xml"]


@pytest.fixture
def small_corpus(corpus_dir: Path, tmp_path: Path) -> Path:
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", FILES)
    return folder


def test_loop_corpus_gives_each_copy_a_new_id(small_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "looped"
    assert loop_corpus(CONTRACT, small_corpus, out, 3) == 9
    ids = sorted(etree.parse(str(f)).getroot().find("Request").get("ID") for f in out.glob("*.xml"))
    assert ids == sorted(
        [
            "142305",
            "100142305",
            "200142305",
            "127582",
            "100127582",
            "200127582",
            "600000",
            "100600000",
            "200600000",
        ]
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_bench_writes_table_json_and_chart(
    small_corpus: Path, tmp_path: Path, backend: str, request, capsys
) -> None:
    targets = {"postgresql": POSTGRES_URL, "mariadb": MYSQL_URL}
    if backend in targets:
        request.getfixturevalue("postgres_engine" if backend == "postgresql" else "mysql_engine")
    target = targets.get(backend, f"sqlite:///{tmp_path / 'b.db'}")
    out = tmp_path / "bench"
    assert (
        main(
            [
                "bench",
                "--contract",
                str(CONTRACT),
                "--source",
                str(small_corpus),
                "--loop",
                "4",
                "--target",
                target,
                "--workers",
                "1,2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = json.loads((out / "bench.json").read_text())
    assert [row["workers"] for row in rows] == [1, 2]
    for row in rows:
        assert row["documents"] == 12 and row["failed"] == 4  # 4 wrong-schema copies
        # both measured; the share is their ratio (a load can come out above the ceiling:
        # its parser drops indentation, and other test processes share the machine)
        assert row["docs_per_minute"] > 0 and row["ceiling_docs_per_minute"] > 0
        assert row["fraction_of_ceiling"] == pytest.approx(
            row["docs_per_minute"] / row["ceiling_docs_per_minute"]
        )
        assert row["peak_rss_mb"] > 10
    # one worker is the baseline; two on a small corpus gain at most twofold
    assert rows[0]["speedup"] == pytest.approx(1.0) and rows[0]["efficiency"] == pytest.approx(1)
    # the figures agree with each other (their size depends on what else the machine runs)
    assert rows[1]["speedup"] > 0
    assert rows[1]["efficiency"] == pytest.approx(rows[1]["speedup"] / 2)
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob("*.db"))  # throw-away targets are removed
    assert not (out / "corpus").exists()  # the looped copies are not left behind
    output = capsys.readouterr().out
    assert "workers=2:" in output and "bench.png" in output
    header = next(line for line in output.splitlines() if "efficiency" in line)
    for name in ("workers", "ceiling/min", "of ceiling"):
        assert name in header  # whole, not cut


def test_bench_without_matplotlib_prints_the_table_and_how_to_get_the_chart(
    small_corpus: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the extra were not installed
    out = tmp_path / "bench"
    arguments = ["bench", "--contract", str(CONTRACT), "--source", str(small_corpus),
                 "--target", f"sqlite:///{tmp_path / 'b.db'}", "--workers", "1",
                 "--out", str(out)]  # fmt: skip
    assert main(arguments) == 0
    assert [row["workers"] for row in json.loads((out / "bench.json").read_text())] == [1]
    assert not (out / "bench.png").exists()
    output = capsys.readouterr().out
    assert "of ceiling" in output  # the table
    assert "no chart: matplotlib is not installed" in output and "[chart]" in output


def test_bench_rejects_bad_worker_lists(small_corpus: Path, tmp_path: Path, capsys) -> None:
    assert (
        main(
            [
                "bench",
                "--contract",
                str(CONTRACT),
                "--source",
                str(small_corpus),
                "--workers",
                "one,two",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "want counts like 1,2,4" in capsys.readouterr().err
