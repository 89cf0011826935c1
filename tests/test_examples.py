"""The example contracts for public record formats (contracts/examples/) check against
small samples written in those formats and load them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers import query
from xmlload.cli import main

EXAMPLES = REPO / "contracts" / "examples"

MIME = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE mime-info [
<!ELEMENT mime-info (mime-type)+>
<!ATTLIST mime-info xmlns CDATA #FIXED "http://www.freedesktop.org/standards/shared-mime-info">
<!ATTLIST glob weight CDATA "50">
]>
<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">
  <mime-type type="text/x-sample">
    <comment>Sample text</comment>
    <comment xml:lang="de">Beispieltext</comment>
    <acronym>ST</acronym>
    <expanded-acronym>Sample Text</expanded-acronym>
    <generic-icon name="text-x-generic"/>
    <magic priority="60"><match type="string" value="#sample" offset="0" mask="0xff"/></magic>
    <glob pattern="*.sample" case-sensitive="true"/>
    <alias type="text/sample"/>
    <sub-class-of type="text/plain"/>
    <root-XML namespaceURI="urn:sample" localName="sample"/>
  </mime-type>
  <mime-type type="application/x-other">
    <comment>Other</comment>
    <glob pattern="*.other" weight="80"/>
  </mime-type>
</mime-info>
"""

MEDLINE = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE PubmedArticleSet>
<PubmedArticleSet>
{articles}
</PubmedArticleSet>
"""
ARTICLE = """<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM">
<PMID Version="1">{pmid}</PMID>
<DateCompleted><Year>2021</Year><Month>03</Month><Day>0{pmid}</Day></DateCompleted>
<Article PubModel="Print"><Journal><ISSN IssnType="Print">0000-000{pmid}</ISSN>
<Title>Journal {pmid}</Title></Journal><ArticleTitle>Title {pmid}</ArticleTitle>
<Abstract><AbstractText>Abstract {pmid}.</AbstractText></Abstract>
<AuthorList CompleteYN="Y"><Author ValidYN="Y"><LastName>Doe</LastName>
<ForeName>Jane</ForeName><Initials>J</Initials></Author></AuthorList>
<Language>eng</Language></Article>
<MeshHeadingList><MeshHeading><DescriptorName UI="D00000{pmid}" MajorTopicYN="Y">Topic
</DescriptorName></MeshHeading></MeshHeadingList></MedlineCitation></PubmedArticle>"""


@pytest.mark.parametrize(
    ("contract", "sample", "records", "checks"),
    [
        (
            "shared_mime_info.yaml",
            MIME,
            2,
            {
                "SELECT comment, acronym, generic_icon FROM mime_type "
                "WHERE mime_type = 'text/x-sample'": [("Sample text", "ST", "text-x-generic")],
                "SELECT lang, text FROM mime_comment WHERE mime_type = 'text/x-sample' "
                "ORDER BY text": [("de", "Beispieltext"), (None, "Sample text")],
                # the DOCTYPE's attribute default applies where the file gives none
                "SELECT pattern, weight FROM mime_glob ORDER BY pattern": [
                    ("*.other", 80),
                    ("*.sample", 50),
                ],
                "SELECT priority, match_value FROM mime_magic": [(60, "#sample")],
            },
        ),
        (
            "medline.yaml",
            MEDLINE.format(articles="\n".join(ARTICLE.format(pmid=n) for n in (1, 2, 3))),
            3,
            {
                "SELECT pmid, completed, journal, title FROM citation WHERE pmid = 2": [
                    (2, "2021-03-02", "Journal 2", "Title 2")
                ],
                "SELECT count(*) FROM author WHERE last_name = 'Doe'": [(3,)],
                "SELECT descriptor_ui, major_topic FROM mesh_heading WHERE pmid = 3": [
                    ("D000003", 1)
                ],
            },
        ),
    ],
)
def test_an_example_contract_checks_against_and_loads_its_format(
    tmp_path: Path, capsys, contract: str, sample: str, records: int, checks: dict
) -> None:
    path = tmp_path / "sample.xml"
    path.write_text(sample, encoding="utf-8")
    contract_path = str(EXAMPLES / contract)
    assert main(["contract", "validate", contract_path, "--sample", str(path)]) == 0
    assert f"samples: 1 files, {records} records, {records} mapped, 0 failed" in (
        capsys.readouterr().out
    )
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert main(["run", "--contract", contract_path, "--source", str(path), "--target", target,
                 "--create-tables", "--progress", "none"]) == 0  # fmt: skip
    for sql, expected in checks.items():
        assert query(target, sql) == expected, sql
