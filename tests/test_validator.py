"""Every class of bad document fails at its stage with a clear message."""

from pathlib import Path

import pytest

from tests.conftest import write_contract
from xmlload.contract.loader import load_plan
from xmlload.errors import DocumentError
from xmlload.stages.parser import XMLParser
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
            "'<!DOCTYPE'",
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
