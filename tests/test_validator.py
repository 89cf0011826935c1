"""Every class of bad document fails at its stage with a clear message."""

from pathlib import Path

import pytest

from tests.conftest import write_contract
from xmlload.contract.loader import load_plan
from xmlload.contract.model import Doctype
from xmlload.errors import ContractError, DocumentError
from xmlload.outcome import DocumentOutcome
from xmlload.sources.base import SourceDocument
from xmlload.stages.parser import XMLParser
from xmlload.stages.pipeline import DocumentPipeline
from xmlload.stages.validator import PreProcessingValidator

CONTRACT = """
document:
  root: Doc
  element: /Doc/app
  id: {path: /Doc/@id, column: doc_id, type: integer}
tables:
  app:
    columns:
      name: {type: string(20), path: "@name"}
"""
GOOD = b'<?xml version="1.0" encoding="UTF-8"?><Doc id="7"><app name="x"/></Doc>'


@pytest.fixture
def check(tmp_path: Path):
    plan = load_plan(write_contract(tmp_path, CONTRACT))
    validator = PreProcessingValidator(plan, max_bytes=4096)
    parser = XMLParser()

    def run(data: bytes):
        root = parser.parse(validator.check_bytes(data))
        return validator.check_tree(root)

    return run


def failure(check, data: bytes) -> DocumentError:
    with pytest.raises(DocumentError) as error:
        check(data)
    return error.value


def test_good_document_passes_with_bom(check) -> None:
    assert check(b"\xef\xbb\xbf" + GOOD)[1] == 7


@pytest.mark.parametrize(
    ("data", "stage", "message"),
    [
        (b"", "validation", "empty document"),
        (b"   \n\t ", "validation", "empty document"),
        (b"<Doc>" + b"x" * 5000 + b"</Doc>", "validation", "over the 4,096-byte cap"),
        (
            b'<!DOCTYPE Doc [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b'<Doc id="1"><app>&e;</app></Doc>',
            "validation",
            "<!DOCTYPE declares entities (<!ENTITY), refused by document.doctype: accept",
        ),
        (b'<?xml version="1.0"?><!-- c --><!ENTITY x "y"><Doc/>', "validation", "'<!ENTITY'"),
        (
            b'<?xml version="1.0" encoding="UTF-8"?><Doc id="1" n="\xff\xfe"><app/></Doc>',
            "validation",
            "not valid UTF-8 at byte",
        ),
        (
            b'<?xml version="1.0" encoding="klingon"?><Doc/>',
            "validation",
            "unknown declared encoding",
        ),
        (b"\xff\xfe<\x00D\x00", "validation", "UTF-16"),
        (b'<Doc id="1"><app name="x"></Doc>', "parse", "not well-formed"),
        (b"\x00\x01\x02binary", "parse", "not well-formed"),
        (b'<Other id="1"><app/></Other>', "validation", "root element is <Other>, expected <Doc>"),
        (b'<Doc id="1"><IL_app/></Doc>', "validation", "document element /Doc/app not found"),
        (b'<Doc><app name="x"/></Doc>', "validation", "document id missing"),
        (b'<Doc id="  "><app/></Doc>', "validation", "document id missing"),
        (b'<Doc id="A-1"><app/></Doc>', "validation", "bad document id: 'A-1' is not a number"),
    ],
)
def test_bad_documents(check, data: bytes, stage: str, message: str) -> None:
    error = failure(check, data)
    assert error.stage == stage
    assert message in error.message


def test_latin1_declared_document_is_decoded_as_declared(check) -> None:
    data = '<?xml version="1.0" encoding="ISO-8859-1"?><Doc id="3"><app name="Müller"/></Doc>'
    element, document_id = check(data.encode("latin-1"))
    assert (document_id, element.get("name")) == (3, "Müller")


def test_deep_nesting_is_refused_by_the_parser(check) -> None:
    data = b'<Doc id="1">' + b"<a>" * 300 + b"</a>" * 300 + b"</Doc>"
    plan_parser = XMLParser()
    with pytest.raises(DocumentError) as error:
        plan_parser.parse(data)
    assert error.value.stage == "parse"


def test_entities_are_never_expanded_even_when_doctype_allowed(tmp_path: Path) -> None:
    plan = load_plan(
        write_contract(tmp_path, CONTRACT.replace("  id:", "  allow_doctype: true\n  id:"))
    )
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    data = (
        f'<!DOCTYPE Doc [<!ENTITY e SYSTEM "file://{secret}">]>'
        '<Doc id="1"><app name="&e;">&e;</app></Doc>'
    ).encode()
    validator = PreProcessingValidator(plan, 1 << 20)
    try:
        root = XMLParser().parse(validator.check_bytes(data))
    except DocumentError as error:
        assert "TOP-SECRET" not in error.message
        return
    element, _ = validator.check_tree(root)
    assert "TOP-SECRET" not in (element.text or "") + (element.get("name") or "")


def test_indentation_is_dropped_but_text_inside_elements_is_kept() -> None:
    root = XMLParser().parse(
        b'<Doc id="1">\n  <app>\n    <v>  12 </v>\n    <w>   </w>\n'
        b"    <m>a<b/>  </m>\n  </app>\n</Doc>"
    )
    app = root.find("app")
    assert root.text is None and app.text is None  # indentation between elements: gone
    assert app.find("v").text == "  12 "  # text as written
    assert app.find("w").text == "   "  # a blank-only element keeps its text
    assert app.find("m").text == "a"  # mixed content keeps its text


ENTITY_ATTACKS = {
    "internal": '<!DOCTYPE Doc [<!ENTITY x "INJECTED">]><Doc id="1"><app name="&x;"/></Doc>',
    "external subset": '<!DOCTYPE Doc SYSTEM "{dtd}"><Doc id="1"><app name="&x;"/></Doc>',
    "parameter entity": (
        '<!DOCTYPE Doc [<!ENTITY % p SYSTEM "{dtd}"> %p;]><Doc id="1"><app name="&x;"/></Doc>'
    ),
}
# (codec, name in the declaration or None, byte order mark): every family libxml2 reads
ENCODINGS = [
    ("utf-8", "UTF-8", b""),
    ("utf-8", "UTF-8", b"\xef\xbb\xbf"),
    ("utf-16-be", "UTF-16BE", b""),
    ("utf-16-le", "UTF-16LE", b""),
    ("utf-16-be", "UTF-16", b"\xfe\xff"),
    ("utf-16-le", "UTF-16", b"\xff\xfe"),
    ("utf-32-be", "UTF-32BE", b""),
    ("utf-32-le", "UTF-32LE", b""),
    ("utf-32-le", "UTF-32", b"\xff\xfe\x00\x00"),
    ("utf-32-be", "UTF-32", b"\x00\x00\xfe\xff"),
    ("latin-1", "ISO-8859-1", b""),
    ("cp1252", "windows-1252", b""),
    ("iso8859-15", "ISO-8859-15", b""),
    ("ascii", "US-ASCII", b""),
    ("shift_jis", "Shift_JIS", b""),
    ("euc-jp", "EUC-JP", b""),
    ("gb18030", "GB18030", b""),
    ("big5", "Big5", b""),
    ("koi8-r", "KOI8-R", b""),
    ("utf-7", "UTF-7", b""),
    ("cp037", "IBM037", b""),
    ("cp500", "IBM500", b""),
]


@pytest.mark.parametrize("attack", list(ENTITY_ATTACKS))
@pytest.mark.parametrize(("codec", "declared", "bom"), ENCODINGS)
def test_no_entity_passes_in_any_encoding(
    tmp_path: Path, check, attack: str, codec: str, declared: str, bom: bytes
) -> None:
    dtd = tmp_path / "local.dtd"
    dtd.write_text('<!ENTITY x "FROM-LOCAL-DTD">')
    body = ENTITY_ATTACKS[attack].replace("{dtd}", str(dtd))
    data = bom + f'<?xml version="1.0" encoding="{declared}"?>{body}'.encode(codec)
    error = failure(check, data)
    assert error.stage in ("validation", "parse")
    assert "INJECTED" not in error.message and "FROM-LOCAL-DTD" not in error.message
    assert str(dtd) not in error.message


def test_utf7_hiding_markup_is_refused(check) -> None:
    # `+ADwAIQ-` is `<!` in UTF-7: markup that is not ASCII is an encoding not accepted
    data = b'<?xml version="1.0" encoding="UTF-7"?>+ADwAIQ-DOCTYPE Doc+AD4-<Doc id="1"/>'
    assert "declared encoding 'utf-7' is not accepted" in failure(check, data).message


@pytest.mark.parametrize(
    ("codec", "declared"),
    [("latin-1", "ISO-8859-1"), ("cp1252", "windows-1252"), ("shift_jis", "Shift_JIS")],
)
def test_ascii_compatible_encodings_still_load(check, codec: str, declared: str) -> None:
    data = f'<?xml version="1.0" encoding="{declared}"?><Doc id="4"><app name="ok"/></Doc>'
    element, document_id = check(data.encode(codec))
    assert (document_id, element.get("name")) == (4, "ok")


@pytest.mark.parametrize("doctype", [Doctype.REFUSE, Doctype.ACCEPT])
@pytest.mark.parametrize("attack", list(ENTITY_ATTACKS))
def test_parser_alone_refuses_dtds_and_entities(
    tmp_path: Path, attack: str, doctype: Doctype
) -> None:
    """Defence in depth: whatever reaches the parser, no DTD is read, no entity kept."""
    dtd = tmp_path / "local.dtd"
    dtd.write_text('<!ENTITY x "FROM-LOCAL-DTD">')
    body = ENTITY_ATTACKS[attack].replace("{dtd}", str(dtd))
    data = f'<?xml version="1.0" encoding="UTF-16BE"?>{body}'.encode("utf-16-be")
    with pytest.raises(DocumentError) as error:
        XMLParser(doctype).parse(data)
    assert error.value.stage == "parse"
    assert "INJECTED" not in error.value.message and "FROM-LOCAL-DTD" not in error.value.message


def checker(tmp_path: Path, doctype: str | None):
    """validate + parse + check_tree with a contract whose document.doctype is given."""
    text = CONTRACT if doctype is None else CONTRACT.replace("  id:", f"  {doctype}\n  id:")
    plan = load_plan(write_contract(tmp_path, text))
    validator = PreProcessingValidator(plan, max_bytes=1 << 20)
    parser = XMLParser(plan.contract.document.doctype)
    return lambda data: validator.check_tree(parser.parse(validator.check_bytes(data)))


def test_a_doctype_is_accepted_by_default_and_nothing_is_fetched(tmp_path: Path) -> None:
    dtd = tmp_path / "local.dtd"
    dtd.write_text('<!ATTLIST app name CDATA "FROM-LOCAL-DTD">')
    check = checker(tmp_path, None)
    element, _ = check(f'<!DOCTYPE Doc SYSTEM "{dtd}"><Doc id="3"><app/></Doc>'.encode())
    assert element.get("name") is None  # the external subset was not read
    element, _ = check(b'<!DOCTYPE Doc PUBLIC "-//x//y" "http://127.0.0.1:9/d.dtd"><Doc id="4">'
                       b"<app/></Doc>")  # fmt: skip
    assert element.get("name") is None


def test_an_internal_subset_applies_its_attribute_defaults(tmp_path: Path) -> None:
    check = checker(tmp_path, None)
    data = (b'<!DOCTYPE Doc [<!ELEMENT app EMPTY><!-- <!ENTITY no "x"> -->'
            b'<!ATTLIST app name CDATA "defaulted">]><Doc id="5"><app/></Doc>')  # fmt: skip
    element, document_id = check(data)
    assert (document_id, element.get("name")) == (5, "defaulted")


def test_entities_expand_only_when_the_contract_says_so(tmp_path: Path) -> None:
    data = (b'<!DOCTYPE Doc [<!ENTITY who "Ada Lovelace">]>'
            b'<Doc id="6"><app name="&who;">by &who;</app></Doc>')  # fmt: skip
    with pytest.raises(DocumentError) as error:
        checker(tmp_path, None)(data)
    assert "document.doctype: accept (doctype: entities expands internal ones" in str(
        error.value.message
    )
    element, _ = checker(tmp_path, "doctype: entities")(data)
    assert (element.get("name"), element.text) == ("Ada Lovelace", "by Ada Lovelace")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    external = (f'<!DOCTYPE Doc [<!ENTITY s SYSTEM "file://{secret}">]>'
                '<Doc id="7"><app name="x">&s;</app></Doc>').encode()  # fmt: skip
    with pytest.raises(DocumentError) as error:
        checker(tmp_path, "doctype: entities")(external)
    assert error.value.stage == "parse" and "TOP-SECRET" not in error.value.message


def test_refuse_names_the_setting_and_the_older_spelling_still_works(tmp_path: Path) -> None:
    data = b'<!DOCTYPE Doc><Doc id="8"><app name="x"/></Doc>'
    for setting in ("doctype: refuse", "allow_doctype: false"):
        with pytest.raises(DocumentError) as error:
            checker(tmp_path, setting)(data)
        assert "refused by document.doctype: refuse (doctype: accept takes one" in (
            error.value.message
        )
    assert checker(tmp_path, "allow_doctype: true")(data)[1] == 8
    with pytest.raises(ContractError) as contract_error:
        checker(tmp_path, "doctype: entities\n  allow_doctype: false")
    assert "allow_doctype: false contradicts doctype: entities" in str(contract_error.value)


def processed(tmp_path: Path, data: bytes) -> DocumentOutcome:
    """What the run's pipeline makes of one document."""
    pipeline = DocumentPipeline(load_plan(write_contract(tmp_path, CONTRACT)), 1 << 24)
    return pipeline.process(SourceDocument("doc.xml", data))


LARGE = 200_000  # characters: more than the validator decodes of a large UTF-8 document


def test_a_byte_that_does_not_decode_far_into_a_large_document_is_said_as_such(
    tmp_path: Path,
) -> None:
    head = b'<?xml version="1.0" encoding="UTF-8"?><Doc id="7"><app name="x">'
    data = head + "é".encode() * LARGE + b"\xc3\x28</app></Doc>"
    outcome = processed(tmp_path, data)
    assert (outcome.stage, outcome.message) == (
        "validation",
        f"not valid UTF-8 at byte {len(head) + 2 * LARGE}",
    )


def test_a_doctype_after_a_long_comment_is_refused_before_parsing(tmp_path: Path) -> None:
    comment = b"<!-- <x> " + b"c" * LARGE + b"-->"  # a tag-like text in it, before the cut
    data = comment + b'<!DOCTYPE Doc [<!ENTITY e "x">]><Doc id="7"><app name="&e;"/></Doc>'
    outcome = processed(tmp_path, data)
    assert outcome.stage == "validation" and "<!DOCTYPE" in (outcome.message or "")
    validator = PreProcessingValidator(load_plan(write_contract(tmp_path, CONTRACT)), 1 << 24)
    with pytest.raises(DocumentError, match="<!DOCTYPE"):
        validator.check_bytes(data)  # before any parse: what it decoded first ends in the comment


def test_a_large_document_that_decodes_loads_whole(tmp_path: Path) -> None:
    name = "é" * 5
    data = (
        f'<?xml version="1.0" encoding="UTF-8"?><Doc id="7"><!--{"ü" * LARGE}-->'
        f'<app name="{name}"/></Doc>'
    ).encode()
    outcome = processed(tmp_path, data)
    assert outcome.succeeded and outcome.rows["app"] == [(7, name)]
