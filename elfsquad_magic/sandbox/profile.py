"""Service profiles for tests and benchmarks: a server capacity and a rate limit.

``--max-concurrent N``: at most N API requests are served at once; the others wait in a queue,
so a client that sends more only makes each request slower (what a busy tenant does).
``--rate-limit R``: a token bucket of R calls per second (holding one second of calls) for each
tenant's client, as the one published figure is per connection; a call that finds its bucket
empty is answered 429 with ``Retry-After`` in whole seconds, as real gateways do. One tenant
using up its calls does not slow another.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator

__all__ = ["Capacity", "RateLimit", "RateLimits"]


class Capacity:
    """At most ``limit`` requests in service at once (``None``: no limit); others queue."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self._slots = threading.Semaphore(limit) if limit else None

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Hold one place while a request is served (waits for one when all are taken)."""
        if self._slots is None:
            yield
            return
        with self._slots:
            yield


class RateLimit:
    """A token bucket of ``rate`` calls per second, ``rate`` tokens deep (``None``: none)."""

    def __init__(self, rate: float | None = None) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate_limit must be a positive number of calls per second")
        self.rate = rate
        self._tokens = float(rate or 0)
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float | None:
        """``None`` when the call may go ahead; else the seconds until a token is there."""
        if self.rate is None:
            return None
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            return (1 - self._tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """The wait as ``Retry-After`` delay-seconds: whole seconds, at least 1."""
        return str(max(1, math.ceil(wait)))


class RateLimits:
    """A :class:`RateLimit` of ``rate`` calls per second for each caller (``None``: none)."""

    def __init__(self, rate: float | None = None) -> None:
        RateLimit(rate)  # the same check of the rate, once
        self.rate = rate
        self._buckets: dict[str, RateLimit] = {}
        self._lock = threading.Lock()

    def take(self, caller: str) -> float | None:
        """``None`` when ``caller``'s call may go ahead; else the seconds until it may."""
        if self.rate is None:
            return None
        with self._lock:
            bucket = self._buckets.get(caller)
            if bucket is None:
                bucket = self._buckets[caller] = RateLimit(self.rate)
        return bucket.take()
