"""PreProcessingValidator: what must never reach the parser, and what a parsed document
must have before it is mapped (root, document element, document id)."""

from __future__ import annotations

import codecs
import re
from functools import lru_cache
from typing import Any

from xmlload.contract.compiler import Plan
from xmlload.contract.model import ColumnSpec, Doctype, IdFromSource
from xmlload.contract.paths import Element, XmlPath, element_locator
from xmlload.contract.transforms import ColumnRules, Notes, build_converter
from xmlload.errors import DocumentError, ValueProblem
from xmlload.stages.parser import doctype_refused, entities_refused
from xmlload.states import Stage

_DECLARATION = re.compile(rb'^<\?xml[^>]*?encoding\s*=\s*["\']([A-Za-z0-9._-]+)["\']')
_UTF8_NAMES = {"utf-8", "utf8"}
_KEYWORD = re.compile(r"<![A-Za-z\[]+")
# Byte patterns that start a document in an encoding where ASCII is not one byte a
# character (XML 1.0 appendix F): with or without a byte order mark.
_WIDE_STARTS = {
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\x00<": "UTF-32",
    b"<\x00\x00\x00": "UTF-32",
    b"\x00<\x00?": "UTF-16",
    b"<\x00?\x00": "UTF-16",
    b"\xfe\xff": "UTF-16",
    b"\xff\xfe": "UTF-16",
    b"Lo\xa7\x94": "EBCDIC",
}
_PROBE = '<?xml version="1.0"?><!DOCTYPE'
_PROLOG_BYTES = 64 << 10  # of a large UTF-8 document, decoded to check what precedes the root


def _declared_encoding(data: bytes) -> str:
    match = _DECLARATION.match(data[:200])
    return match.group(1).decode("ascii").lower() if match else "utf-8"


def _wide_encoding(data: bytes) -> str | None:
    """The family of a document whose bytes are not ASCII-compatible, else None."""
    for start, family in _WIDE_STARTS.items():
        if data.startswith(start):
            return family
    return None


@lru_cache(maxsize=64)
def _ascii_compatible(encoding: str) -> bool:
    """Whether markup is written in the encoding as in ASCII (so the parser and this
    validator agree on where `<!` is): UTF-16/32, UTF-7 and EBCDIC are not."""
    try:
        return _PROBE.encode(encoding) == _PROBE.encode("ascii") and encoding not in (
            "utf-7",
            "utf7",
            "unicode-1-1-utf-7",
        )
    except (UnicodeError, LookupError):
        return False


class _PrologUnfinished(Exception):
    """The text ends before the root element: a part of the document was decoded."""


def _prolog_markup(text: str) -> tuple[str, int] | None:
    """The first markup declaration (`<!DOCTYPE`, `<!ENTITY`) before the root element, and
    where it starts; _PrologUnfinished when the text ends before anything decides."""
    position = 0
    while True:
        start = text.find("<", position)
        if start < 0 or start + 1 >= len(text):
            raise _PrologUnfinished
        following = text[start + 1 : start + 2]
        if following == "!" and not text.startswith("<!--", start):
            keyword = _KEYWORD.match(text, start)
            return (keyword.group(0) if keyword else text[start : start + 2]), start
        if following != "?" and following != "!":
            return None
        closing = "?>" if following == "?" else "-->"
        end = text.find(closing, start)
        if end < 0:
            raise _PrologUnfinished
        position = end + len(closing)


def _subset_declarations(text: str, start: int) -> list[str]:
    """The keywords (`<!ENTITY`, `<!ATTLIST`, ...) of the declarations in the internal
    subset of the DOCTYPE at `start`, skipping quoted literals, comments and processing
    instructions. Stops at the DOCTYPE's end or at anything unterminated (the parser then
    refuses what is left)."""
    found: list[str] = []
    position, in_subset = start + len("<!DOCTYPE"), False
    skip = {'"': '"', "'": "'", "<!--": "-->", "<?": "?>"}
    while position < len(text):
        opener = next((o for o in skip if text.startswith(o, position)), None)
        if opener is not None and (in_subset or len(opener) == 1):
            end = text.find(skip[opener], position + len(opener))
            if end < 0:
                break
            position = end + len(skip[opener])
            continue
        char = text[position]
        if in_subset and text.startswith("<!", position):
            keyword = _KEYWORD.match(text, position)
            found.append(keyword.group(0) if keyword else "<!")
        elif char == "[" or char == "]":
            in_subset = char == "["
        elif char == ">" and not in_subset:
            break
        position += 1
    return found


def _decoded(data: bytes | memoryview, encoding: str, final: bool) -> str:
    """The text, decoded as declared (not `final`: a character cut at the end is left out)."""
    try:
        return codecs.getincrementaldecoder(encoding)().decode(data, final=final)
    except UnicodeDecodeError as error:
        shown = "UTF-8" if encoding in _UTF8_NAMES else encoding
        raise DocumentError(Stage.VALIDATION, f"not valid {shown} at byte {error.start}") from None


class PreProcessingValidator:
    """Rejects oversized, empty or wrongly encoded input, and a DOCTYPE that
    document.doctype does not allow, before parsing."""

    def __init__(self, plan: Plan, max_bytes: int) -> None:
        document = plan.contract.document
        self.max_bytes = max_bytes
        self.doctype = document.doctype
        element = plan.scope.path(document.element, allow_attribute=False)
        self.root_tag = element.steps[0]
        self.element_path = document.element
        self.find_element = element_locator(element)
        self.id_from_source = document.id.source
        if plan.id_path is not None:
            holder = XmlPath(plan.id_path.absolute, plan.id_path.steps, None)
            self.find_id, self.id_attribute = element_locator(holder), plan.id_path.attribute
        id_rules = ColumnRules(
            "document id",
            plan.id_kind,
            ColumnSpec(type=document.id.type, path=document.id.path, invalid="fail"),
            plan.contract.defaults,
        )
        self.convert_id = build_converter(id_rules, {}, Notes())

    def check_bytes(self, data: bytes) -> bytes:
        """Return the bytes to parse (BOM kept) or raise DocumentError(stage='validation').

        What comes before the root element is checked on decoded text. A large UTF-8
        document is decoded only that far: the parser refuses a byte that does not decode,
        and `check_encoding` then says which (see `DocumentPipeline.run`)."""
        self._check_size(data)
        self._checked_text(data, whole=False)
        return data

    def check_text(self, data: bytes) -> str:
        """check_bytes, returning the document's whole text as declared (without a byte
        order mark), which the mapper searches where the tree would be slow to walk."""
        self._check_size(data)
        return self._checked_text(data, whole=True)

    def check_start(self, data: bytes) -> bytes:
        """check_bytes without the size cap: for the start of a file of records (each
        record is held to the cap on its own)."""
        self._checked_text(data, whole=True)
        return data

    def check_encoding(self, data: bytes) -> None:
        """DocumentError(stage='validation') saying where the document does not decode as
        declared, if it does not."""
        self._checked_text(data, whole=True)

    def _check_size(self, data: bytes) -> None:
        if len(data) > self.max_bytes:
            raise DocumentError(
                Stage.VALIDATION,
                f"document is {len(data):,} bytes, over the "
                f"{self.max_bytes:,}-byte cap (max_document_bytes)",
            )

    def _checked_text(self, data: bytes, whole: bool) -> str:
        if not data or data.isspace():  # not strip(): no copy of a large document
            raise DocumentError(Stage.VALIDATION, "empty document")
        body = data[3:] if data.startswith(codecs.BOM_UTF8) else data
        family = _wide_encoding(body)
        if family is not None:
            raise DocumentError(Stage.VALIDATION, f"{family} documents are not accepted; use UTF-8")
        encoding = self._encoding(body, bom=body is not data)
        partial = not whole and encoding in _UTF8_NAMES and len(body) > _PROLOG_BYTES
        start = memoryview(body)[:_PROLOG_BYTES] if partial else body  # a view, not a copy
        text = _decoded(start, encoding, final=not partial)
        try:
            markup = _prolog_markup(text)
        except _PrologUnfinished:
            if not partial:
                return text  # no root element: the parser says so
            return self._checked_text(data, whole=True)
        if markup is not None:
            self._check_markup(text, *markup)
        return text

    def _check_markup(self, text: str, keyword: str, start: int) -> None:
        """A DOCTYPE as document.doctype allows; no other declaration before the root."""
        if keyword != "<!DOCTYPE":
            raise DocumentError(
                Stage.VALIDATION,
                f"markup declaration {keyword!r} before the root element is not allowed "
                "(only a <!DOCTYPE, as document.doctype says)",
            )
        if self.doctype is Doctype.REFUSE:
            raise DocumentError(Stage.VALIDATION, doctype_refused())
        if self.doctype is Doctype.ACCEPT and "<!ENTITY" in _subset_declarations(text, start):
            raise DocumentError(Stage.VALIDATION, entities_refused())

    @staticmethod
    def _encoding(body: bytes, bom: bool) -> str:
        """The declared encoding, when it is one the markup checks can read."""
        encoding = _declared_encoding(body)
        if bom and encoding not in _UTF8_NAMES:
            raise DocumentError(
                Stage.VALIDATION, f"a UTF-8 byte order mark, but the declaration says {encoding!r}"
            )
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise DocumentError(
                Stage.VALIDATION, f"unknown declared encoding {encoding!r}"
            ) from None
        if not _ascii_compatible(encoding):
            raise DocumentError(
                Stage.VALIDATION,
                f"declared encoding {encoding!r} is not accepted: use UTF-8 or an encoding "
                "that writes markup as ASCII does",
            )
        return encoding

    def check_tree(self, root: Element, key: str = "") -> tuple[Element, Any]:
        """Return (document element, document id) or raise DocumentError(stage='validation').
        `key` is the document's source key, for an id taken from it."""
        if root.tag != self.root_tag:
            raise DocumentError(
                Stage.VALIDATION, f"root element is <{root.tag}>, expected <{self.root_tag}>"
            )
        element = self.find_element(root, root)
        if element is None:
            raise DocumentError(
                Stage.VALIDATION,
                f"document element {self.element_path} not found (wrong document type?)",
            )
        raw = self._raw_id(root, element, key)
        try:
            document_id = self.convert_id(raw)
        except ValueProblem as problem:
            raise DocumentError(Stage.VALIDATION, f"bad document id: {problem}") from None
        if document_id is None:
            raise DocumentError(Stage.VALIDATION, "document id missing")
        return element, document_id

    def _raw_id(self, root: Element, element: Element, key: str) -> str | None:
        if self.id_from_source is not None:
            return id_from_key(key, self.id_from_source)
        holder = self.find_id(element, root)
        if holder is None:
            return None
        return holder.get(self.id_attribute) if self.id_attribute else holder.text


def id_from_key(key: str, part: IdFromSource) -> str:
    """The part of a source key a contract takes as the document id."""
    if part is IdFromSource.KEY:
        return key
    name = key.rsplit("/", 1)[-1]
    if part is IdFromSource.ROW:
        return name.partition("#")[2]
    if part is IdFromSource.STEM:
        file, hash_mark, ordinal = name.partition("#")
        lowered = file.lower()
        for extension in (".xml.gz", ".xml"):
            if lowered.endswith(extension):
                return file[: -len(extension)] + hash_mark + ordinal
    return name
