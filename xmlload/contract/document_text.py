"""The text a document was parsed from (decoded, as the validator returns it), used as an
index by searches of the whole tree.

Finding every element that carries an attribute means visiting every element (a quarter
of a millisecond on a 3,000-element document). The text says where the attribute's name is
written, and the markup before that place says which element it is: the n-th start tag is
the n-th element in document order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

_MOST_PLACES = 64  # the name written in more places: the tree search is as cheap
_MOST_STEPS = 2_000  # elements walked to reach the one a place is in


class _Unknown(Exception):
    """The text before a place cannot be counted exactly (a declaration, markup left
    open) or leads too far into the tree: the caller searches the tree instead."""


@dataclass
class DocumentText:
    """One document's text while it is mapped, held only when searching it is sound: no
    DOCTYPE (whose entities and attribute defaults can put names in the tree that are not
    written in the text as they are named)."""

    text: str | None = None
    body: int = 0  # where the markup after the XML declaration starts
    searched: bool = False  # some search of the plan reads the text (set as it is compiled)

    def hold(self, root: etree._Element, text: str | None) -> None:
        sound = text is not None and root.getroottree().docinfo.internalDTD is None
        self.text = text if sound else None
        self.body = _after_declaration(text) if sound and text is not None else 0

    def release(self) -> None:
        self.text = None

    def carriers(self, root: etree._Element, attribute: str) -> list[etree._Element] | None:
        """Every element of the document carrying the (plain) attribute, in document order;
        None when the text cannot tell (none held, too many places, markup that cannot be
        counted before one of them)."""
        text = self.text
        if text is None:
            return None
        cursor = _Cursor(text, self.body, root)
        found: list[etree._Element] = []
        position, places = text.find(attribute), 0
        try:
            while position >= 0:
                places += 1
                if places > _MOST_PLACES:
                    return None
                element = cursor.element_at(position)
                carries = element is not None and element.get(attribute) is not None
                if carries and (not found or found[-1] is not element):
                    found.append(element)  # type: ignore[arg-type]
                position = text.find(attribute, position + len(attribute))
        except _Unknown:
            return None
        return found


class _Cursor:
    """Reads the text and walks the tree together, forwards only, so the places of a name
    cost one pass over the text before the last of them, however many there are."""

    def __init__(self, text: str, body: int, root: etree._Element) -> None:
        self.text = text
        self.scanned = body  # start tags in text[body:scanned] are counted in `tags`
        self.tags = 0
        self.markup_end = body  # where the last comment, CDATA or instruction seen ends
        self.last_place = body  # the place asked about before
        self.last_answer: etree._Element | None = None
        self.elements = root.iter(etree.Element)
        self.walked, self.current = -1, None  # `current` is element number `walked`

    def element_at(self, position: int) -> etree._Element | None:
        """The element whose start tag holds the character at `position` (later than the one
        asked before), or None when that character is in no start tag (text, an end tag, other
        markup); an attribute's name is inside its start tag, after its `<` and before any
        other (attribute values cannot hold `<`)."""
        text = self.text
        start = text.rfind("<", self.last_place, position)
        self.last_place = position
        if start < 0:  # no markup since the place before: in the same place as it
            return self.last_answer
        self.last_answer = None
        if text[start + 1 : start + 2] in ("/", "!", "?") or not self._counted_to(start):
            return None
        if self.tags > _MOST_STEPS:
            raise _Unknown
        while self.walked < self.tags:
            self.current, self.walked = next(self.elements, None), self.walked + 1
        if self.current is None or not _named(self.current, text, start + 1):
            raise _Unknown  # never expected: the count and the tree disagree
        self.last_answer = self.current
        return self.current

    def _counted_to(self, start: int) -> bool:
        """Count the start tags before the `<` at `start` (False when that `<` is inside a
        comment, CDATA or a processing instruction, which hold no tags)."""
        if start < self.markup_end:
            return False
        text, position = self.text, self.scanned
        for begin, end in _other_markup(text, position, start + 1):
            self.tags += text.count("<", position, begin) - text.count("</", position, begin)
            position = self.markup_end = self.scanned = end
            if begin < start < end:
                return False
        self.tags += text.count("<", position, start) - text.count("</", position, start)
        self.scanned = start
        return True


# Markup in which `<` is not a tag: (opening, closing).
_OTHER_MARKUP = (("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?", "?>"))


def _other_markup(text: str, begin: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each comment, CDATA section and processing instruction that starts
    in text[begin:end], in order; _Unknown for other `<!` markup or one left open."""
    position = begin
    while True:
        found = [(text.find(opening, position, end), opening, closing)
                 for opening, closing in _OTHER_MARKUP]  # fmt: skip
        found = [entry for entry in found if entry[0] >= 0]
        if not found:
            other = text.find("<!", position, end)
            if other >= 0:
                raise _Unknown
            return
        start, opening, closing = min(found)
        if text.find("<!", position, start) >= 0:
            raise _Unknown  # a declaration (only in a DOCTYPE, which is never searched)
        stop = text.find(closing, start + len(opening))
        if stop < 0:
            raise _Unknown
        stop += len(closing)
        yield start, stop
        position = stop


def _after_declaration(text: str) -> int:
    if not text.startswith("<?xml"):
        return 0
    end = text.find("?>")
    return 0 if end < 0 else end + 2


def _named(element: etree._Element, text: str, name_start: int) -> bool:
    """Whether the start tag at `name_start` names this element (prefix aside)."""
    local = etree.QName(element).localname
    written = text[name_start : name_start + 200].split(None, 1)[0].split(">", 1)[0]
    written = written.rstrip("/").rpartition(":")[2]
    return written == local
