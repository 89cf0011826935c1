"""Finds where the records of a file of records start and end, by byte offset, without
parsing them: the coordinator's side of splitting one big file among workers.

Exact for well-formed XML in an ASCII-compatible encoding (UTF-8, Latin-1, ...): outside
records, every tag on the way to them is read, its namespace declarations applied, and
anything else skipped as a whole element; inside a record only comments, CDATA sections,
processing instructions and tags of the record's own name are looked at (a `<` can start
nothing else there, since markup is not allowed in text or attribute values). Where the
file stops making sense (an end tag that does not match, an undeclared prefix, no end) the
scan ends with `ScanStopped` at that offset: the records before it are exact, and the rest
of the file is left to the streaming parse, which says what is wrong."""

from __future__ import annotations

import mmap
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from html import unescape
from xml.parsers import expat

_NAME = rb"[^\s/>=\"'<!?]+"
_ATTRIBUTES = rb"""(?:[^>"'/]|"[^"]*"|'[^']*'|/(?!>))*"""
_OTHER_MARKUP = rb"!--.*?-->|!\[CDATA\[.*?\]\]>|\?.*?\?>"
_MARKUP = re.compile(
    rb"<(?:" + _OTHER_MARKUP + rb"|(/)?(" + _NAME + rb")(" + _ATTRIBUTES + rb")(/)?>)", re.S
)
_TRAILING = re.compile(rb"(?:\s+|<!--.*?-->|<\?.*?\?>)*", re.S)
_NAMESPACE = re.compile(rb"""xmlns(?::([^\s=]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")
RELEASE_EVERY = 64 << 20  # bytes scanned between handing the mapping's pages back


class ScanStopped(Exception):
    """The file does not read as well-formed XML at `offset`; records after it unknown."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"at byte {offset:,}: {reason}")
        self.offset = offset


class NotSplittable(Exception):
    """The file cannot be split by bytes (an encoding other than UTF-8 or Latin-1, no
    root element, a records path that is the root)."""


@dataclass(frozen=True)
class Ancestor:
    """An open element on the way to records: its start tag's bytes span and raw name."""

    start: int
    end: int
    name: bytes


@dataclass(frozen=True)
class RecordSpan:
    start: int
    end: int
    ancestors: tuple[Ancestor, ...]  # the same tuple object for every record of one parent


def root_offset(data: mmap.mmap | bytes) -> int:
    """Where the root element's start tag begins (after the XML declaration, comments,
    processing instructions and any DOCTYPE, read by expat, which never fetches anything).
    NotSplittable for a file expat cannot read that far or whose encoding is not
    ASCII-compatible."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4]:
        raise NotSplittable("the file is UTF-16 or UTF-32")
    parser = expat.ParserCreate()
    found: list[int] = []

    def start(name: str, attributes: object) -> None:
        found.append(parser.CurrentByteIndex)
        raise _RootFound

    parser.StartElementHandler = start
    step = 1 << 16
    try:
        for offset in range(0, len(data), step):
            parser.Parse(data[offset : offset + step], False)
    except _RootFound:
        _check_prolog(bytes(data[: found[0]]).decode("utf-8", "replace"))
        return found[0]
    except expat.ExpatError as error:
        raise NotSplittable(f"the start of the file is not readable XML: {error}") from None
    raise NotSplittable("no root element")


class _RootFound(Exception):
    pass


def _check_prolog(prolog: str) -> None:
    """A DOCTYPE may add what bytes do not show: entities (markup of their own) and
    attribute defaults (namespace declarations); such a file is read whole. (The prolog is
    decoded as UTF-8; its markup reads the same in any encoding the scan accepts.)"""
    if "<!ENTITY" in prolog:
        raise NotSplittable("its DOCTYPE declares entities")
    if "<!ATTLIST" in prolog and "xmlns" in prolog:
        raise NotSplittable("its DOCTYPE gives namespace declarations as attribute defaults")


def scan_records(data: mmap.mmap | bytes, steps: Sequence[str]) -> Iterator[RecordSpan]:
    """Every record at the absolute path `steps` (Clark names, root first), in order."""
    if len(steps) < 2:
        raise NotSplittable("the records are the root element: the file is one record")
    scan = _Scan(data, tuple(steps))
    yield from scan.records(root_offset(data))


class _Scan:
    def __init__(self, data: mmap.mmap | bytes, steps: tuple[str, ...]) -> None:
        self.data, self.steps = data, steps
        self.released = 0

    def records(self, position: int) -> Iterator[RecordSpan]:
        open_path: list[Ancestor] = []
        scopes: list[dict[bytes, bytes]] = [{b"xml": b"http://www.w3.org/XML/1998/namespace"}]
        ancestors: tuple[Ancestor, ...] = ()
        while True:
            match = _MARKUP.search(self.data, position)
            if match is None:
                if open_path:
                    raise ScanStopped(len(self.data), "the file ends inside an element")
                return
            closing, name, attributes, empty = match.groups()
            position = match.end()
            if name is None:  # a comment, CDATA section or processing instruction
                continue
            if closing:
                if not open_path or open_path[-1].name != name:
                    raise ScanStopped(match.start(), "an end tag that closes no open element")
                open_path.pop()
                scopes.pop()
                ancestors = tuple(open_path)
                if not open_path:
                    return self._check_trailing(position)
                continue
            scope = _declared(scopes[-1], attributes)
            depth = len(open_path)
            on_path = _clark(name, scope, match.start()) == self.steps[depth]
            if on_path and depth == len(self.steps) - 1:
                end = position if empty else self._element_end(name, position)
                yield RecordSpan(match.start(), end, ancestors)
                position = end
            elif on_path and not empty:
                open_path.append(Ancestor(match.start(), position, name))
                scopes.append(scope)
                ancestors = tuple(open_path)
            else:
                position = position if empty else self._element_end(name, position)
                if depth == 0:
                    return self._check_trailing(position)
            self._release(position)

    def _check_trailing(self, position: int) -> None:
        """After the root element only comments, processing instructions and spaces."""
        trailing = _TRAILING.match(self.data, position)
        if trailing is None or trailing.end() != len(self.data):
            raise ScanStopped(position, "something other than comments after the root element")

    def _element_end(self, name: bytes, position: int) -> int:
        """The offset just after the end tag of the element `name` whose start tag ends at
        `position`."""
        end = _plain_end(self.data, name, position)
        if end is not None:
            return end
        pattern, depth = _same_name(name), 1
        while True:
            match = pattern.search(self.data, position)
            if match is None:
                raise ScanStopped(position, f"<{name.decode()}> has no end tag")
            position = match.end()
            if match.group(1) is None:  # not a tag
                continue
            if match.group(1) == b"/":
                depth -= 1
                if depth == 0:
                    return position
            elif not match.group(3):
                depth += 1

    def _release(self, position: int) -> None:
        """Let the kernel drop the mapping's pages already scanned from this process's RSS."""
        if isinstance(self.data, mmap.mmap) and position - self.released > RELEASE_EVERY:
            upto = position - position % mmap.PAGESIZE
            self.data.madvise(mmap.MADV_DONTNEED, 0, upto)
            self.released = upto


def _plain_end(data: mmap.mmap | bytes, name: bytes, position: int) -> int | None:
    """The element's end, found directly when nothing before its first end tag could hide
    or nest one (no comment, CDATA, processing instruction or same-named start tag)."""
    end = _tag_of(data, b"</" + name, position, len(data))
    if end == -1 or data.find(b"<!", position, end) != -1 or data.find(b"<?", position, end) != -1:
        return None
    if _tag_of(data, b"<" + name, position, end) != -1:
        return None
    close = data.find(b">", end)
    return None if close == -1 else close + 1


def _tag_of(data: mmap.mmap | bytes, opening: bytes, start: int, stop: int) -> int:
    """Where `opening` (`<name` or `</name`) first begins a tag of exactly that name."""
    found = data.find(opening, start, stop)
    while found != -1 and data[found + len(opening) : found + len(opening) + 1] not in _AFTER_NAME:
        found = data.find(opening, found + 1, stop)
    return found


_AFTER_NAME = {bytes([c]) for c in b" \t\r\n/>"}


@cache
def _same_name(name: bytes) -> re.Pattern[bytes]:
    """Markup that can hide tags, or a start or end tag of exactly `name`."""
    tag = rb"(/?)" + re.escape(name) + rb"(?=[\s/>])(" + _ATTRIBUTES + rb")(/)?>"
    return re.compile(rb"<(?:" + _OTHER_MARKUP + rb"|" + tag + rb")", re.S)


def _declared(scope: dict[bytes, bytes], attributes: bytes) -> dict[bytes, bytes]:
    """The namespace scope inside a start tag with these attributes."""
    if b"xmlns" not in attributes:
        return scope
    inner = dict(scope)
    for prefix, double, single in _NAMESPACE.findall(attributes):
        value = double if double or not single else single
        inner[prefix or b""] = unescape(value.decode()).encode() if b"&" in value else value
    return inner


def _clark(name: bytes, scope: dict[bytes, bytes], offset: int) -> str:
    """A raw tag name as lxml names it: `{namespace}local`, or `local` outside any."""
    prefix, _, local = name.rpartition(b":")
    namespace = scope.get(prefix)
    if namespace is None and prefix:
        raise ScanStopped(offset, "a prefix that is not declared")
    try:
        if not namespace:
            return local.decode()
        return "{" + namespace.decode() + "}" + local.decode()
    except UnicodeDecodeError:
        raise ScanStopped(offset, "a name that is not UTF-8") from None
