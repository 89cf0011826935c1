"""Retry of transient database errors: exponential backoff with jitter.

What counts as transient is decided by the dialect strategy from the exception type and
the SQLSTATE / driver error code (lost connection, deadlock, serialization failure, lock
timeout), never from message text.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    initial_delay: float = 1.0
    max_delay: float = 60.0
    backoff_base: float = 2.0
    jitter: bool = True

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based); jitter spreads it over
        the upper half so workers that failed together do not retry together."""
        delay = min(self.max_delay, self.initial_delay * self.backoff_base ** (attempt - 1))
        return random.uniform(delay / 2, delay) if self.jitter else delay


def with_retries(
    action: Callable[[], T],
    is_transient: Callable[[DBAPIError], bool],
    policy: RetryPolicy,
    recover: Callable[[], None],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `action`; on a transient error call `recover` (e.g. reconnect), wait, try again."""
    attempt = 0
    while True:
        try:
            return action()
        except DBAPIError as error:
            attempt += 1
            if attempt > policy.max_retries or not is_transient(error):
                raise
            wait = policy.delay(attempt)
            log.warning(
                "transient database error (%s); retry %d/%d in %.1f s",
                type(error.orig).__name__,
                attempt,
                policy.max_retries,
                wait,
            )
            sleep(wait)
            recover()
