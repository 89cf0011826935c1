"""The bytes a document was parsed from, used as an index by searches of the whole tree.

Finding every element that carries an attribute means visiting every element (a quarter
of a millisecond on a 3,000-element document). The bytes say where the attribute's name is
written, and the markup before that place says which element it is: the n-th start tag is
the n-th element in document order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from lxml import etree

# Encodings in which a name is written as its ASCII bytes, whatever surrounds it.
_SEARCHABLE = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_MOST_PLACES = 64  # the name written in more places: the tree search is as cheap
_MOST_STEPS = 2_000  # elements walked to reach the one a place is in
_BOM = b"\xef\xbb\xbf"


class _Unknown(Exception):
    """The bytes before a place cannot be counted exactly (a declaration, markup left
    open) or lead too far into the tree: the caller searches the tree instead."""


@dataclass
class DocumentBytes:
    """One document's bytes while it is mapped, held only when searching them is sound:
    UTF-8 or ASCII, and no DOCTYPE (whose entities and attribute defaults can put names in
    the tree that are not written in the bytes as they are named)."""

    data: bytes | None = None
    body: int = 0  # where the markup after the XML declaration starts

    def hold(self, root: etree._Element, data: bytes | None) -> None:
        info = root.getroottree().docinfo
        sound = info.internalDTD is None and (info.encoding or "").lower() in _SEARCHABLE
        self.data = data if sound else None
        self.body = _after_declaration(data) if self.data is not None else 0

    def release(self) -> None:
        self.data = None

    def carriers(self, root: etree._Element, attribute: str) -> list[etree._Element] | None:
        """Every element of the document carrying the (plain) attribute, in document order;
        None when the bytes cannot tell (none held, too many places, markup that cannot be
        counted before one of them)."""
        data = self.data
        if data is None:
            return None
        needle = attribute.encode("ascii")
        found: list[etree._Element] = []
        position, places = data.find(needle), 0
        try:
            while position >= 0:
                places += 1
                if places > _MOST_PLACES:
                    return None
                element = self._element_at(root, position)
                carries = element is not None and element.get(attribute) is not None
                if carries and (not found or found[-1] is not element):
                    found.append(element)  # type: ignore[arg-type]
                position = data.find(needle, position + len(needle))
        except _Unknown:
            return None
        return found

    def _element_at(self, root: etree._Element, position: int) -> etree._Element | None:
        """The element whose start tag holds the byte at `position`, or None when that byte
        is in no start tag (text, an end tag); an attribute's name is inside its start tag,
        after its `<` and before any other (attribute values cannot hold `<`)."""
        data = self.data
        assert data is not None
        start = data.rfind(b"<", self.body, position)
        if start < 0 or data[start + 1 : start + 2] in (b"/", b"!", b"?"):
            return None
        if _inside_other_markup(data, self.body, start):
            return None  # a `<` in a comment, CDATA or processing instruction
        ordinal = _start_tags(data, self.body, start)
        if ordinal > _MOST_STEPS:
            raise _Unknown
        element = next(islice(root.iter(etree.Element), ordinal, None), None)
        if element is None or not _named(element, data, start + 1):
            raise _Unknown  # never expected: the count and the tree disagree
        return element


# Markup in which `<` is not a tag: (opening, closing).
_OTHER_MARKUP = ((b"<!--", b"-->"), (b"<![CDATA[", b"]]>"), (b"<?", b"?>"))


def _other_markup(data: bytes, begin: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each comment, CDATA section and processing instruction that starts
    in data[begin:end], in order; _Unknown for other `<!` markup or one left open."""
    position = begin
    while True:
        found = [(data.find(opening, position, end), opening, closing)
                 for opening, closing in _OTHER_MARKUP]  # fmt: skip
        found = [entry for entry in found if entry[0] >= 0]
        if not found:
            other = data.find(b"<!", position, end)
            if other >= 0:
                raise _Unknown
            return
        start, opening, closing = min(found)
        if data.find(b"<!", position, start) >= 0:
            raise _Unknown  # a declaration (only in a DOCTYPE, which is never searched)
        stop = data.find(closing, start + len(opening))
        if stop < 0:
            raise _Unknown
        stop += len(closing)
        yield start, stop
        position = stop


def _inside_other_markup(data: bytes, body: int, start: int) -> bool:
    return any(begin < start < end for begin, end in _other_markup(data, body, start + 1))


def _start_tags(data: bytes, body: int, start: int) -> int:
    """Start tags in data[body:start] (an element's place in document order), not counting
    the `<` in comments, CDATA sections and processing instructions."""
    count, position = 0, body
    for begin, end in _other_markup(data, body, start):
        count += data.count(b"<", position, begin) - data.count(b"</", position, begin)
        position = end
    return count + data.count(b"<", position, start) - data.count(b"</", position, start)


def _after_declaration(data: bytes) -> int:
    start = len(_BOM) if data.startswith(_BOM) else 0
    if not data.startswith(b"<?xml", start):
        return start
    end = data.find(b"?>", start)
    return start if end < 0 else end + 2


def _named(element: etree._Element, data: bytes, name_start: int) -> bool:
    """Whether the start tag at `name_start` names this element (prefix aside)."""
    local = etree.QName(element).localname.encode("utf-8")
    written = data[name_start : name_start + 200].split(None, 1)[0].split(b">", 1)[0]
    written = written.rstrip(b"/").rpartition(b":")[2]
    return written == local
