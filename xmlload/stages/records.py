"""Records (`document.records`): each element at an absolute path of a file (or of a table
cell) is a document of its own, keyed `SOURCE_KEY#ordinal`. The file is read streaming:
a record is handed on as a standalone tree (its ancestors, with their attributes and the
namespaces in scope, and a copy of the record), then cleared, with everything before it,
so a process holds the largest record, not the file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass
from typing import BinaryIO

import xxhash
from lxml import etree

from xmlload.contract.compiler import Plan
from xmlload.contract.paths import Element
from xmlload.errors import DocumentError
from xmlload.stages.parser import ExternalReadRefused, RefuseEverything, check_doctype
from xmlload.stages.validator import PreProcessingValidator
from xmlload.states import Stage

HEAD_BYTES = 1 << 16  # of a file, checked as a whole document is (encoding, DOCTYPE)


@dataclass
class Record:
    key: str  # SOURCE_KEY#ordinal
    root: Element  # a standalone tree: the record's ancestors, then the record
    element: Element  # the record in it
    fingerprint: str  # XXH3-128 of the record as serialized
    size_bytes: int


class RecordReader:
    def __init__(self, plan: Plan, validator: PreProcessingValidator) -> None:
        assert plan.records is not None
        self.steps, self.validator = plan.records.steps, validator
        self.doctype = plan.contract.document.doctype

    def records(self, stream: BinaryIO, base_key: str, first: int = 1) -> Iterator[Record]:
        """Every record of the stream in document order, numbered from `first` (part of a
        file starts where its records do); DocumentError (keyed to the record that could
        not be read) where the stream stops being readable XML."""
        ordinal = first - 1
        try:
            head = self._check_head(stream)
            context = etree.iterparse(
                stream, events=("end",), tag=self.steps[-1], resolve_entities=False,
                no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=True,
                attribute_defaults=_only_internal_subset(head),
            )  # fmt: skip
            context.resolvers.add(RefuseEverything())
            checked = False
            for _, element in context:
                if not checked:
                    check_doctype(element.getroottree(), self.doctype, context.error_log)
                    checked = True
                if not self._is_record(element):
                    continue
                ordinal += 1
                yield self._record(element, f"{base_key}#{ordinal}")
                _forget(element)
        except etree.XMLSyntaxError as error:
            raise _unreadable(base_key, ordinal, f"not well-formed XML: {error}") from None
        except ExternalReadRefused:
            message = "the file refers to an external DTD or entity; xmlload never reads one"
            raise _unreadable(base_key, ordinal, message) from None
        except DocumentError as error:
            raise _unreadable(base_key, ordinal, error.message, error.stage) from None

    def _check_head(self, stream: BinaryIO) -> bytes:
        """The file's start as the validator checks a whole document, then rewound."""
        head = stream.read(HEAD_BYTES)
        stream.seek(0)
        if len(head) == HEAD_BYTES:
            head = head[: head.rfind(b">") + 1]  # not cut inside a character
        self.validator.check_start(head)
        return head

    def _is_record(self, element: Element) -> bool:
        """At the records path exactly (not an element of that name inside a record)."""
        depth, current = len(self.steps) - 1, element.getparent()
        while current is not None and depth > 0:
            depth -= 1
            if current.tag != self.steps[depth]:
                return False
            current = current.getparent()
        return current is None and depth == 0

    @staticmethod
    def _record(element: Element, key: str) -> Record:
        text = etree.tostring(element, with_tail=False)
        root = record = deepcopy(element)
        record.tail = None  # text after the record, there or not depending on read-ahead
        for ancestor in element.iterancestors():
            holder = etree.Element(ancestor.tag, dict(ancestor.attrib), nsmap=ancestor.nsmap)
            holder.append(root)
            root = holder
        return Record(key, root, record, xxhash.xxh3_128_hexdigest(text), len(text))


_DOCTYPE = re.compile(r"<!DOCTYPE\s+[^\s\[>]+\s*(SYSTEM|PUBLIC)?")


def _only_internal_subset(head: bytes) -> bool:
    """Whether the DOCTYPE (if any) has no external subset. Then the defaults of attributes
    its internal subset declares are written into each record as it is parsed: a record is
    copied out of its document, and lxml's `get` finds a default only in the document's
    DTD. (Where there is an external subset, asking libxml2 for defaults would make it
    read that, which xmlload never does; such records get no defaults.)"""
    doctype = _DOCTYPE.search(head.decode("utf-8", "replace"))
    return doctype is not None and doctype.group(1) is None


def _forget(element: Element) -> None:
    """Free the record and everything before it: memory stays bounded by one record."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    while element.getprevious() is not None:
        del parent[0]


def _unreadable(
    base_key: str, ordinal: int, message: str, stage: Stage = Stage.PARSE
) -> RecordsStopped:
    where = f"after record {ordinal:,}" if ordinal else "before its first record"
    return RecordsStopped(stage, f"the file stops being readable {where}: {message}",
                          f"{base_key}#{ordinal + 1}")  # fmt: skip


class RecordsStopped(DocumentError):
    """The rest of a file of records cannot be read; `key` names the record that failed."""

    def __init__(self, stage: Stage, message: str, key: str) -> None:
        super().__init__(stage, message)
        self.key = key

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.stage, self.message, self.key))
