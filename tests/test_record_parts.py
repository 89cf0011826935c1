"""One file of records split into parts (byte ranges found by the coordinator's scan):
the records read part by part equal, key for key and byte for byte, those one streaming
parse of the whole file finds, on hostile files and on generated ones cut anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.conftest import write_contract
from xmlload.contract.loader import load_plan
from xmlload.sources.file_parts import FilePart, open_part, part_size, split_file, with_parts
from xmlload.sources.record_scan import NotSplittable, root_offset
from xmlload.stages.pipeline import DocumentPipeline
from xmlload.stages.records import RecordReader

CONTRACT = """namespaces: {{d: "urn:d"}}
document:
  root: d:root
  records: {records}
  element: {records}
  id: {{source: name, column: k, type: string(100)}}
tables:
  rec:
    columns:
      text: {{type: text, path: "."}}
"""
FLAT, GROUPED = "/d:root/d:rec", "/d:root/d:group/d:rec"


def reader(folder: Path, records: str) -> RecordReader:
    contract = write_contract(folder, CONTRACT.format(records=records), f"c{len(records)}.yaml")
    plan = load_plan(contract)
    return RecordReader(plan, DocumentPipeline(plan, 32 << 20).validator)


def whole_file(read: RecordReader, path: Path) -> list[tuple[str, str, bytes]]:
    with path.open("rb") as stream:
        return [(r.key, r.fingerprint, etree.tostring(r.root)) for r in read.records(stream, "F")]


def by_parts(read: RecordReader, path: Path, part_bytes: int) -> list[tuple[str, str, bytes]]:
    found = []
    for part in split_file(str(path), read.steps, part_bytes):
        with open_part(part) as stream:
            records = list(read.records(stream, "F", part.first))
        assert part.count is None or len(records) == part.count, part
        found += [(r.key, r.fingerprint, etree.tostring(r.root)) for r in records]
    return found


def raw_records(path: Path, steps: list[str]) -> int:
    """Independently of xmlload: the elements at exactly that path."""
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False))
    return sum(
        [a.tag for a in element.iterancestors()][::-1] == steps[:-1]
        for element in tree.getroot().iter(steps[-1])
    )


HOSTILE = {
    "markup that looks like records": b"""<?xml version="1.0" encoding="UTF-8"?>
<!-- <rec>not one</rec> -->
<!DOCTYPE root [ <!ATTLIST rec kind CDATA "dflt"> <!-- ]> <rec> --> ]>
<root xmlns="urn:d" xmlns:p="urn:p" xml:lang="en">
  <head><rec>another parent's</rec></head>
  <rec id="1"><![CDATA[ </rec> <rec> ]]><x a="&lt;/rec> /> >">t</x></rec>
  <!-- </rec> --><?pi <rec>?>
  <rec id="2"><rec id="nested"/><rec>deeper <rec/></rec></rec>
  <p:rec id="other namespace"/>
  <q:rec xmlns:q="urn:d" id="3">prefix declared on the record</q:rec>
  <rec xmlns="urn:other" id="another default namespace"/>
  <rec
     id="4"
  >spread over lines</rec >
  <recx>a longer name</recx><rec/><rec id="6"></rec>
</root>
<!-- after -->
""",
    "BOM, CRLF, a prefix on the root": b"\xef\xbb\xbf<?xml version='1.0'?>\r\n<d:root "
    b"xmlns:d='urn:d'>\r\n"
    + b"".join(b"<d:rec n='%d'>\r\n<d:v>%d</d:v>\r\n</d:rec>\r\n" % (n, n) for n in range(40))
    + b"</d:root>\r\n",
    "Latin-1": b'<?xml version="1.0" encoding="ISO-8859-1"?><root xmlns="urn:d">'
    + "".join(f"<rec>café {n} ± déjà</rec>" for n in range(30)).encode("latin-1")
    + b"</root>",
    "no records": b'<root xmlns="urn:d"><other><rec/></other></root>',
}


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("part_bytes", [1, 37, 200, 1 << 20])
def test_parts_give_the_records_a_whole_parse_gives(
    tmp_path: Path, name: str, part_bytes: int
) -> None:
    path = tmp_path / "f.xml"
    path.write_bytes(HOSTILE[name])
    read = reader(tmp_path, FLAT)
    expected = whole_file(read, path)
    assert len(expected) == raw_records(path, list(read.steps))
    assert by_parts(read, path, part_bytes) == expected


def grouped_file() -> bytes:
    groups = []
    for g in range(5):
        records = "".join(f'<rec n="{g}.{n}"><rec>inner</rec></rec>' for n in range(g * 3))
        groups.append(f'<group g="{g}" xmlns:x="urn:x{g}" xml:lang="l{g}">{records}</group>')
    return f'<root xmlns="urn:d"><rec>not under a group</rec>{"".join(groups)}</root>'.encode()


def test_records_under_several_parents_keep_each_parent(tmp_path: Path) -> None:
    path = tmp_path / "g.xml"
    path.write_bytes(grouped_file())
    read = reader(tmp_path, GROUPED)
    expected = whole_file(read, path)
    assert len(expected) == 30 == raw_records(path, list(read.steps))
    parts = list(split_file(str(path), read.steps, 10**6))
    assert len(parts) == 4  # group 0 has none; one part per parent however big it may be
    assert by_parts(read, path, 10**6) == by_parts(read, path, 1) == expected
    assert b'xml:lang="l3"' in expected[10][2]  # the parent's attributes come along


def test_a_file_the_scan_cannot_follow_leaves_the_rest_to_the_parser(tmp_path: Path) -> None:
    path = tmp_path / "b.xml"
    good = "".join(f"<rec>{n}</rec>" for n in range(10))
    path.write_bytes(f'<root xmlns="urn:d">{good}</wrong>{good}</root>'.encode())
    read = reader(tmp_path, FLAT)
    parts = list(split_file(str(path), read.steps, 30))
    assert parts[-1].count is None and parts[-1].first == 11  # the rest, from record 11
    assert sum(p.count for p in parts[:-1]) == 10
    with open_part(parts[-1]) as stream, pytest.raises(Exception, match="readable after record"):
        list(read.records(stream, "F", parts[-1].first))


def test_what_is_never_split(tmp_path: Path) -> None:
    utf16 = tmp_path / "u.xml"
    utf16.write_bytes('<root xmlns="urn:d"><rec/></root>'.encode("utf-16"))
    entities = tmp_path / "e.xml"
    entities.write_bytes(b'<!DOCTYPE root [<!ENTITY r "<rec/>">]><root xmlns="urn:d">&r;</root>')
    for path in (utf16, entities):
        with pytest.raises(NotSplittable):
            root_offset(path.read_bytes())
    read = reader(tmp_path, FLAT)
    big = tmp_path / "big.xml"
    big.write_bytes(b'<root xmlns="urn:d">' + b"<rec>x</rec>" * 40_000 + b"</root>")
    small = tmp_path / "small.xml"
    small.write_bytes(b'<root xmlns="urn:d">' + b"<rec>x</rec>" * 10 + b"</root>")
    chunks = list(with_parts([[str(small), str(big), str(entities)]], read.steps, workers=2))
    assert chunks[-1] == [str(small), str(entities)]  # small, or cannot be split: whole
    parts = [chunk[0] for chunk in chunks[:-1]]
    assert all(len(c) == 1 and isinstance(c[0], FilePart) for c in chunks[:-1])
    assert len(parts) > 2 and sum(p.count for p in parts) == 40_000
    assert part_size(100 << 30, 2) == 4 << 20 and part_size(1000, 2) == 64 << 10


# -- generated files, cut anywhere ------------------------------------------------------
TEXT = st.sampled_from(["x", "a &amp; b", "&lt;rec>", "]]&gt;", " ", "\r\n", "é"])
NOISE = st.sampled_from([
    "<!-- <rec> </rec> -->", "<![CDATA[</rec><rec>]]>", "<?p <rec/> ?>",
    '<o a="&lt;rec> />"><rec/></o>', "<rec/>", "<rec a='>'>x</rec>", "\r\n  ",
])  # fmt: skip


@st.composite
def record(draw: st.DrawFn, prefix: str) -> str:
    inner = "".join(draw(st.lists(st.one_of(TEXT, NOISE), max_size=4)))
    declare = f' xmlns:{prefix}="urn:d"' if prefix and draw(st.booleans()) else ""
    tag = f"{prefix}:rec" if prefix else "rec"
    if not inner and draw(st.booleans()):
        return f"<{tag}{declare}/>"
    return f"<{tag}{declare} n='{draw(st.integers(0, 99))}'>{inner}</{tag}>"


@st.composite
def record_file(draw: st.DrawFn) -> bytes:
    prefix = draw(st.sampled_from(["", "d", "z"]))
    root = f"{prefix}:root" if prefix else "root"
    declare = f'xmlns:{prefix}="urn:d"' if prefix else 'xmlns="urn:d"'
    items = draw(st.lists(st.one_of(record(prefix), NOISE, TEXT), max_size=25))
    head = draw(st.sampled_from(["", "<?xml version='1.0'?>", "\ufeff", "<!DOCTYPE r>\n"]))
    return f'{head}<{root} {declare} xml:lang="en">{"".join(items)}</{root}>'.encode()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=record_file(), part_bytes=st.integers(1, 400))
def test_generated_files_cut_anywhere(tmp_path: Path, data: bytes, part_bytes: int) -> None:
    path = tmp_path / "h.xml"
    path.write_bytes(data)
    read = reader(tmp_path, FLAT)
    expected = whole_file(read, path)
    assert len(expected) == raw_records(path, list(read.steps))
    assert by_parts(read, path, part_bytes) == expected
