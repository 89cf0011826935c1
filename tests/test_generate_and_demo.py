"""The synthetic corpus generator and the embedded demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lxml import etree

from tests.helpers import query
from xmlload.cli import main
from xmlload.generate import BAD_KINDS, DocumentGenerator, write_files


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    first = [d.xml for d in DocumentGenerator(3).documents(20)]
    assert first == [d.xml for d in DocumentGenerator(3).documents(20)]
    assert first != [d.xml for d in DocumentGenerator(4).documents(20)]


def test_documents_have_the_corpus_shape_and_sizes() -> None:
    documents = list(DocumentGenerator(9).documents(400))
    sizes = sorted(len(d.xml) for d in documents)
    assert sizes[0] > 3_000 and sizes[-1] <= 1_100_000
    assert 25_000 < sizes[len(sizes) // 2] < 70_000
    root = etree.fromstring(documents[0].xml)
    application = root.find("Request/CustData/application")
    assert root.tag == "Provenir" and root.get("ID") == "1"
    assert application.find("contact/contact_address") is not None
    assert len(root.find("Request/Reports")) > 10  # bulky unmapped section


def test_bad_documents_only_when_asked() -> None:
    assert not [d for d in DocumentGenerator(1).documents(300) if d.bad_kind]
    kinds = {d.bad_kind for d in DocumentGenerator(1, bad_ratio=0.5).documents(300)}
    assert kinds == {None, *BAD_KINDS}


def test_write_files_layout(tmp_path: Path) -> None:
    counts = write_files(DocumentGenerator(2, median_kb=5), 1500, 1, tmp_path)
    assert counts == {"good": 1500}
    assert (tmp_path / "000000" / "999.xml").exists()
    assert (tmp_path / "000001" / "1500.xml").exists()
    assert len(list(tmp_path.rglob("*.xml"))) == 1500


def test_demo_generates_and_loads(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--documents", "300", "--workdir", str(tmp_path)]) == 0
    target = f"sqlite:///{tmp_path / 'target.db'}"
    statuses = dict(query(target, "SELECT status, count(*) FROM processing_log GROUP BY status"))
    assert sum(statuses.values()) == 300 and statuses["success"] >= 280
    assert query(target, "SELECT count(*) FROM app_base") == [(statuses["success"],)]
    # generated values fit the example contract, except the rare deliberate junk e-mail,
    # whose truncation the summary's headline names
    output = capsys.readouterr().out
    headline = next(line for line in output.splitlines() if "cut to their column" in line)
    assert headline.endswith("(app_contact_base.email): see `Values changed while loading` below")
    assert int(headline.split(" values")[0].replace(",", "")) < 20


def test_generate_command_into_a_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "xmlload",
            "generate",
            "--documents",
            "25",
            "--seed",
            "3",
            "--source",
            url,
            "--source-table",
            "docs",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert query(url, "SELECT count(*), min(id), max(id) FROM docs") == [(25, 1, 25)]
