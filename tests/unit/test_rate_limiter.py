"""The shared rate limiter: spacing, the pause after a 429, and its setting."""

from __future__ import annotations

import threading
import time

import pytest

from elfsquad_magic.client import ElfsquadClient
from elfsquad_magic.core.rate_limit import RateLimiter
from elfsquad_magic.errors import UsageError

pytestmark = pytest.mark.timing


def test_rate_limiter_pause_holds_every_caller() -> None:
    limiter = RateLimiter(None)
    limiter.pause(0.2)
    started = time.monotonic()
    limiter.acquire()
    assert time.monotonic() - started >= 0.19


def test_bad_rate_limit_is_refused() -> None:
    with pytest.raises(UsageError, match="calls_per_minute"):
        ElfsquadClient(calls_per_minute=0)


def test_rate_limiter_spaces_callers_of_every_thread() -> None:
    limiter = RateLimiter(1200)  # one call per 50 ms
    started = time.monotonic()
    threads = [threading.Thread(target=limiter.acquire) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started >= 0.19  # the fifth waits four intervals
