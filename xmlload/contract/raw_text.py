"""The bytes a document was parsed from, used as an index by searches of the whole tree.

Finding every element that carries an attribute means visiting every element (a quarter
of a millisecond on a 3,000-element document). The bytes say where the attribute's name is
written, and the markup before that place says which element it is: the n-th start tag is
the n-th element in document order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

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
        cursor = _Cursor(data, self.body, root)
        found: list[etree._Element] = []
        position, places = data.find(needle), 0
        try:
            while position >= 0:
                places += 1
                if places > _MOST_PLACES:
                    return None
                element = cursor.element_at(position)
                carries = element is not None and element.get(attribute) is not None
                if carries and (not found or found[-1] is not element):
                    found.append(element)  # type: ignore[arg-type]
                position = data.find(needle, position + len(needle))
        except _Unknown:
            return None
        return found


class _Cursor:
    """Reads the bytes and walks the tree together, forwards only, so the places of a name
    cost one pass over the bytes before the last of them, however many there are."""

    def __init__(self, data: bytes, body: int, root: etree._Element) -> None:
        self.data, self.body = data, body
        self.scanned = body  # start tags in data[body:scanned] are counted in `tags`
        self.tags = 0
        self.markup_end = body  # where the last comment, CDATA or instruction seen ends
        self.last_place = body  # the place asked about before
        self.last_answer: etree._Element | None = None
        self.elements = root.iter(etree.Element)
        self.walked, self.current = -1, None  # `current` is element number `walked`

    def element_at(self, position: int) -> etree._Element | None:
        """The element whose start tag holds the byte at `position` (later than the one
        asked before), or None when that byte is in no start tag (text, an end tag, other
        markup); an attribute's name is inside its start tag, after its `<` and before any
        other (attribute values cannot hold `<`)."""
        data = self.data
        start = data.rfind(b"<", self.last_place, position)
        self.last_place = position
        if start < 0:  # no markup since the place before: in the same place as it
            return self.last_answer
        self.last_answer = None
        if data[start + 1 : start + 2] in (b"/", b"!", b"?") or not self._counted_to(start):
            return None
        if self.tags > _MOST_STEPS:
            raise _Unknown
        while self.walked < self.tags:
            self.current, self.walked = next(self.elements, None), self.walked + 1
        if self.current is None or not _named(self.current, data, start + 1):
            raise _Unknown  # never expected: the count and the tree disagree
        self.last_answer = self.current
        return self.current

    def _counted_to(self, start: int) -> bool:
        """Count the start tags before the `<` at `start` (False when that `<` is inside a
        comment, CDATA or a processing instruction, which hold no tags)."""
        if start < self.markup_end:
            return False
        data, position = self.data, self.scanned
        for begin, end in _other_markup(data, position, start + 1):
            self.tags += data.count(b"<", position, begin) - data.count(b"</", position, begin)
            position = self.markup_end = self.scanned = end
            if begin < start < end:
                return False
        self.tags += data.count(b"<", position, start) - data.count(b"</", position, start)
        self.scanned = start
        return True


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
