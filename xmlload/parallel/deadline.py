"""Per-document time limit inside a worker, with SIGALRM (POSIX). Where that is missing
(Windows) or a document is stuck in C code, the coordinator's hang limit (the Scheduler
kills a worker silent for longer) is the backstop."""

from __future__ import annotations

import signal
from types import FrameType, TracebackType

from xmlload.errors import DocumentError
from xmlload.states import Stage


class Deadline:
    """`with deadline:` raises DocumentError(stage='timeout') when `seconds` run out.

    Made once per worker (it installs the SIGALRM handler); each use only arms the timer.
    """

    supported = hasattr(signal, "setitimer")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.active = self.supported and seconds > 0
        if self.active:
            signal.signal(signal.SIGALRM, self._expire)

    def _expire(self, number: int, frame: FrameType | None) -> None:
        raise DocumentError(
            Stage.TIMEOUT, f"document took longer than {self.seconds:g} s (doc_timeout)"
        )

    def __enter__(self) -> Deadline:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
