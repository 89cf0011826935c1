"""Elements carrying an attribute, found from where the document's text (decoded by the
validator) writes its name, equal those a search of the whole tree finds, on hostile
documents and generated ones; where the text cannot tell, the tree is searched."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.conftest import write_contract
from xmlload.contract.document_text import DocumentText
from xmlload.contract.loader import load_plan
from xmlload.contract.paths import elements_locator, parse_path
from xmlload.stages.parser import XMLParser
from xmlload.stages.validator import PreProcessingValidator

NAME = "regb_start_date"


def tree_search(root: etree._Element) -> list[etree._Element]:
    """Independently of the text: every element below the root carrying the attribute."""
    return [e for e in root.iterdescendants(etree.Element) if e.get(NAME) is not None]


Search = Callable[[bytes], tuple[list[etree._Element], list[etree._Element] | None]]


@pytest.fixture(scope="module")
def text_search(tmp_path_factory: pytest.TempPathFactory) -> Search:
    """(what the locator returns, what the text alone said) for `/r//*` having NAME, the
    text being the validator's."""
    contract = write_contract(
        tmp_path_factory.mktemp("text"),
        """document: {root: r, element: /r, id: {source: name, column: k, type: string(99)}}
tables: {t: {columns: {v: {type: text, path: "@x"}}}}
""",
    )
    validator = PreProcessingValidator(load_plan(contract), 1 << 20)

    def search(data: bytes) -> tuple[list[etree._Element], list[etree._Element] | None]:
        text, root = validator.check_text(data), XMLParser().parse(data)
        index = DocumentText()
        index.hold(root, text)
        locate = elements_locator(parse_path("/r//*", allow_attribute=False), NAME, False, index)
        return locate(root, root), index.carriers(root, NAME)

    return search


HOSTILE = {
    "text and attribute values naming it": (
        b'<r><a x="regb_start_date">regb_start_date</a>'
        b'<b regb_start_date="1"/><c y="regb_start_date=2" regb_start_date="3"/></r>'
    ),
    "a longer name ending in it": b'<r><a xregb_start_date="1"/><b regb_start_date=""/></r>',
    "spread over lines, prefixed tag": (
        b'<?xml version="1.0"?>\n<r xmlns:p="urn:p">\n<p:a\n  regb_start_date\n = "1"\n/><b/></r>'
    ),
    "BOM and declaration": (
        b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?><r><a regb_start_date="1"/></r>'
    ),
    "a tag named like it": b'<r><regb_start_date regb_start_date="1"/><regb_start_date/></r>',
    "nested carriers": b'<r><a regb_start_date="1"><b regb_start_date="2"/></a></r>',
    "the root carries it too": b'<r regb_start_date="0"><a regb_start_date="1"/></r>',
    "two places in one comment": (
        b'<r><!-- <a regb_start_date="x"/> <b regb_start_date="y"/> --><c regb_start_date="1"/></r>'
    ),
    "named again and again in one text": (
        b"<r><a>"
        + b"regb_start_date " * 30
        + b'</a><b regb_start_date="1"/>'
        + b"<c>"
        + b"regb_start_date<!-- regb_start_date -->" * 10
        + b'<d regb_start_date="2"/></c></r>'
    ),
    "end tags and empty elements before it": (
        b'<r><x/><y></y><z><w/></z><a q="&lt;" regb_start_date="1"/></r>'
    ),
    "absent": b"<r><a/></r>",
    "namespaced attribute of that name": b'<r xmlns:p="urn:p"><a p:regb_start_date="1"/></r>',
    "comments, CDATA, processing instructions holding `<` and the name": (
        b'<?xml version="1.0"?><!-- <a regb_start_date="0"/> --><?pi <b?>\n<r><!-- < -->'
        b'<x><![CDATA[<b regb_start_date="c">]]></x><?p <c regb_start_date="p"?>'
        b'<a regb_start_date="1"/><!--regb_start_date--><b/><c regb_start_date="2"/></r>'
    ),
}
UNCOUNTABLE = {
    "written in too many places": b"<r>" + b"<a regb_start_date='1'/>" * 70 + b"</r>",
}


@pytest.mark.parametrize("data", HOSTILE.values(), ids=HOSTILE.keys())
def test_the_text_finds_what_the_tree_search_finds(data: bytes, text_search: Search) -> None:
    found, told = text_search(data)
    root = found[0].getroottree().getroot() if found else XMLParser().parse(data)
    expected = tree_search(root)
    assert told is not None, "the text should have told"
    assert [e.get(NAME) for e in found] == [e.get(NAME) for e in expected]
    assert [e.tag for e in found] == [e.tag for e in expected]


@pytest.mark.parametrize("data", UNCOUNTABLE.values(), ids=UNCOUNTABLE.keys())
def test_markup_that_cannot_be_counted_falls_back_to_the_tree(
    data: bytes, text_search: Search
) -> None:
    found, told = text_search(data)
    assert told is None
    assert len(found) == data.count(b"regb_start_date=")


def test_a_doctype_is_never_searched_and_other_encodings_are_decoded(
    text_search: Search,
) -> None:
    with_doctype = b'<!DOCTYPE r [<!ATTLIST a x CDATA "d">]><r><a regb_start_date="1"/></r>'
    found, told = text_search(with_doctype)
    assert told is None and [e.get(NAME) for e in found] == ["1"]
    latin = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><r><é x="é"/><a regb_start_date="é"/>'
        '<b regb_start_date="ü"/></r>'
    )
    found, told = text_search(latin.encode("latin-1"))
    assert told is not None and [e.get(NAME) for e in found] == ["é", "ü"]


def test_a_relative_search_keeps_only_descendants_of_its_element() -> None:
    data = '<r><a regb_start_date="1"><b regb_start_date="2"/></a><c regb_start_date="3"/></r>'
    root = XMLParser().parse(data.encode())
    index = DocumentText()
    index.hold(root, data)
    locate = elements_locator(parse_path("//*", allow_attribute=False), NAME, False, index)
    assert [e.get(NAME) for e in locate(root[0], root)] == ["2"]


_TAG = st.sampled_from(["a", "b", NAME, "p:a"])
_TEXT = st.sampled_from(["", "t", NAME, "&lt;", "x > y"])


@st.composite
def documents(draw: st.DrawFn, depth: int = 0) -> str:
    """An element with random attributes, text, comments, CDATA and children."""
    tag = "r" if depth == 0 else draw(_TAG)
    attributes = ""
    if draw(st.booleans()):
        attributes += f' {NAME}="{draw(st.sampled_from(["", "1", NAME]))}"'
    if draw(st.booleans()):
        attributes += f' other="{draw(st.sampled_from([NAME, "v", "&lt;"]))}"'
    namespace = ' xmlns:p="urn:p"' if depth == 0 else ""
    body = draw(_TEXT)
    if draw(st.integers(0, 9)) == 0:
        body += draw(st.sampled_from([
            "<!-- < -->", "<![CDATA[<a>]]>", "<?pi x?>", f"<!-- <a {NAME}='x'/> -->",
            f"<![CDATA[<b {NAME}='y'>]]>", f"<?pi <c {NAME}='z'?>",
        ]))  # fmt: skip
    if depth < 3:
        body += "".join(draw(st.lists(documents(depth + 1), max_size=3)))
    space = draw(st.sampled_from([" ", "\n  ", ""]))
    if not body and draw(st.booleans()):
        return f"<{tag}{namespace}{attributes}{space}/>"
    return f"<{tag}{namespace}{attributes}{space}>{body}</{tag}>"


@settings(max_examples=300, deadline=None)
@given(documents(), st.booleans())
def test_generated_documents(text_search: Search, document: str, declared: bool) -> None:
    data = (b'<?xml version="1.0" encoding="utf-8"?>\n' if declared else b"") + document.encode()
    found, _ = text_search(data)
    expected = tree_search(XMLParser().parse(data))
    assert [(e.tag, e.get(NAME), e.sourceline) for e in found] == [
        (e.tag, e.get(NAME), e.sourceline) for e in expected
    ]
