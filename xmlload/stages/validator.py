"""PreProcessingValidator: what must never reach the parser, and what a parsed document
must have before it is mapped (root, document element, document id)."""

from __future__ import annotations

import codecs
import re
from typing import Any

from xmlload.contract.compiler import Plan
from xmlload.contract.model import ColumnSpec
from xmlload.contract.paths import Element, XmlPath, element_locator
from xmlload.contract.transforms import ColumnRules, Notes, build_converter
from xmlload.errors import DocumentError, ValueProblem

_DECLARATION = re.compile(rb'^<\?xml[^>]*?encoding\s*=\s*["\']([A-Za-z0-9._-]+)["\']')
_UTF8_NAMES = {"utf-8", "utf8"}
_KEYWORD = re.compile(rb"<![A-Za-z\[]+")


def _declared_encoding(data: bytes) -> str:
    match = _DECLARATION.match(data[:200])
    return match.group(1).decode("ascii").lower() if match else "utf-8"


def _prolog_markup(data: bytes) -> bytes | None:
    """The first markup declaration (`<!DOCTYPE`, `<!ENTITY`) before the root element."""
    position = 0
    while True:
        start = data.find(b"<", position)
        if start < 0 or start + 1 >= len(data):
            return None
        following = data[start + 1 : start + 2]
        if following == b"?":
            position = data.find(b"?>", start) + 2
        elif data.startswith(b"<!--", start):
            position = data.find(b"-->", start) + 3
        elif following == b"!":
            keyword = _KEYWORD.match(data, start)
            return keyword.group(0) if keyword else data[start : start + 2]
        else:
            return None
        if position < 2:
            return None


class PreProcessingValidator:
    """Rejects oversized, empty, wrongly encoded or DTD-carrying input before parsing."""

    def __init__(self, plan: Plan, max_bytes: int) -> None:
        document = plan.contract.document
        self.max_bytes = max_bytes
        self.allow_doctype = document.allow_doctype
        element = plan.scope.path(document.element, allow_attribute=False)
        self.root_tag = element.steps[0]
        self.element_path = document.element
        self.find_element = element_locator(element)
        self.find_id = element_locator(XmlPath(plan.id_path.absolute, plan.id_path.steps, None))
        self.id_attribute = plan.id_path.attribute
        id_rules = ColumnRules(
            "document id",
            plan.id_kind,
            ColumnSpec(type=document.id.type, path=document.id.path, invalid="fail"),
            plan.contract.defaults,
        )
        self.convert_id = build_converter(id_rules, {}, Notes())

    def check_bytes(self, data: bytes) -> bytes:
        """Return the bytes to parse (BOM kept) or raise DocumentError(stage='validation')."""
        if len(data) > self.max_bytes:
            raise DocumentError(
                "validation",
                f"document is {len(data):,} bytes, over the "
                f"{self.max_bytes:,}-byte cap (max_document_bytes)",
            )
        if not data.strip():
            raise DocumentError("validation", "empty document")
        body = data[3:] if data.startswith(codecs.BOM_UTF8) else data
        if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise DocumentError("validation", "UTF-16 documents are not accepted; use UTF-8")
        encoding = _declared_encoding(body)
        try:
            codecs.lookup(encoding)
            body.decode(encoding)
        except LookupError:
            raise DocumentError("validation", f"unknown declared encoding {encoding!r}") from None
        except UnicodeDecodeError as error:
            shown = "UTF-8" if encoding in _UTF8_NAMES else encoding
            raise DocumentError("validation", f"not valid {shown} at byte {error.start}") from None
        if not self.allow_doctype:
            markup = _prolog_markup(body)
            if markup is not None:
                shown = markup.decode("ascii", "replace")
                raise DocumentError(
                    "validation", f"markup declaration {shown!r} is not allowed (DOCTYPE/ENTITY)"
                )
        return data

    def check_tree(self, root: Element) -> tuple[Element, Any]:
        """Return (document element, document id) or raise DocumentError(stage='validation')."""
        if root.tag != self.root_tag:
            raise DocumentError(
                "validation", f"root element is <{root.tag}>, expected <{self.root_tag}>"
            )
        element = self.find_element(root, root)
        if element is None:
            raise DocumentError(
                "validation",
                f"document element {self.element_path} not found (wrong document type?)",
            )
        holder = self.find_id(element, root)
        raw = None
        if holder is not None:
            raw = holder.get(self.id_attribute) if self.id_attribute else holder.text
        try:
            document_id = self.convert_id(raw)
        except ValueProblem as problem:
            raise DocumentError("validation", f"bad document id: {problem}") from None
        if document_id is None:
            raise DocumentError("validation", "document id missing")
        return element, document_id
