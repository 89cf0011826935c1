"""Lists the run's pending work on a thread of its own.

Listing runs database queries (source pages, processing-log look-ups for resume); a slow
or locked database must not freeze the coordinator's loop, which keeps the progress, the
hang checks and the stop signals going. The scheduler takes what is ready and asks again."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Final

from xmlload.sources import SourceItem


class _NotYet:
    def __repr__(self) -> str:
        return "NOT_YET"


NOT_YET: Final = _NotYet()  # nothing listed yet; ask again later
_END = object()


class PrefetchedChunks(Iterator["list[SourceItem] | _NotYet"]):
    """`on_listed` is called (on the lister's thread) after each chunk is ready."""

    def __init__(
        self,
        chunks: Iterator[list[SourceItem]],
        depth: int,
        on_listed: Callable[[], None] = lambda: None,
    ) -> None:
        self._chunks, self._on_listed = chunks, on_listed
        self._ready: queue.Queue[object] = queue.Queue(maxsize=max(depth, 1))
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._list, name="list-work", daemon=True)
        self._thread.start()

    def __next__(self) -> list[SourceItem] | _NotYet:
        try:
            found = self._ready.get_nowait()
        except queue.Empty:
            if not self._thread.is_alive() and self._ready.empty():
                raise StopIteration from None
            return NOT_YET
        if found is _END:
            raise StopIteration
        if isinstance(found, BaseException):
            raise found
        return found  # type: ignore[return-value]

    def close(self) -> None:
        """Stop listing (the run ends early) and let the lister release its connection.
        A lister stuck in a database wait is left behind (a daemon thread) after a while."""
        self._closed.set()
        self._thread.join(timeout=5.0)

    def _list(self) -> None:
        try:
            for chunk in self._chunks:
                if not self._put(chunk):
                    return
                self._on_listed()
            self._put(_END)
        except Exception as error:  # handed to the scheduler, which decides
            self._put(error)
        finally:
            if isinstance(self._chunks, Generator):
                self._chunks.close()

    def _put(self, item: object) -> bool:
        while not self._closed.is_set():
            try:
                self._ready.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False
