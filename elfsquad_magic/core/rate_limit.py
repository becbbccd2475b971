"""How fast calls may go: a hard cap per minute, the pace learned for the host, and what the
service's ``RateLimit-*`` headers announce."""

from __future__ import annotations

import email.utils
import re
import threading
import time
from collections.abc import Mapping
from typing import Protocol

from ..errors import UsageError

__all__ = ["PaceSignals", "RateLimiter", "rate_hint"]


class PaceSignals(Protocol):
    """What the transport tells the host's pace of every answer, and the spacing it asks for
    (``fetch.pace.PaceController`` is the one in use)."""

    adaptive: bool

    @property
    def interval(self) -> float:
        """Seconds between calls the learned rate asks for (0: no pacing)."""
        ...

    def observe(self, outcome: int | BaseException, latency: float) -> None:
        """One answer (an HTTP status) or connection error, and how long it took."""

    def cap_rate(self, rate: float | None) -> None:
        """A rate the service announced: never go faster."""


class RateLimiter:
    """Spaces calls evenly to at most ``calls_per_minute``, shared by every thread.

    A 429 pauses all callers for the wait the service asked for, not only the one that saw it.
    """

    def __init__(self, calls_per_minute: int | None = None) -> None:
        if calls_per_minute is not None and calls_per_minute <= 0:
            raise UsageError(
                f"calls_per_minute must be a positive number, not {calls_per_minute}.",
                "Leave it unset (None) for no limit.",
            )
        self.interval = 60.0 / calls_per_minute if calls_per_minute else 0.0
        # The host's pace controller, whose learned rate spaces calls too (set by the client).
        self.pace: PaceSignals | None = None
        self._lock = threading.Lock()
        self._next = 0.0
        self.calls = 0  # API calls let through (tries included): what a sync reports it cost

    def acquire(self) -> None:
        """Wait for this caller's turn (the hard cap, or the learned pace when slower)."""
        learned = self.pace.interval if self.pace is not None and self.pace.adaptive else 0.0
        with self._lock:
            self.calls += 1
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + max(self.interval, learned)
        if slot > now:
            time.sleep(slot - now)

    def pause(self, seconds: float) -> None:
        """Let no call start for ``seconds`` (after a 429 with Retry-After)."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)


_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")
_POLICY = re.compile(r"^\s*(\d+)\s*;\s*w\s*=\s*(\d+)")


def rate_hint(
    headers: Mapping[str, str], now: float | None = None
) -> tuple[float | None, float | None]:
    """(seconds to pause, calls per second allowed) from ``RateLimit-*``/``X-RateLimit-*``.

    ``Remaining: 0`` asks for a pause until ``Reset`` (delta-seconds, or an epoch time as some
    services send); ``RateLimit-Policy: 100;w=60`` (or ``Limit`` with a ``Reset`` window) gives a
    rate. Either is ``None`` when the headers do not say.
    """
    lowered = {k.lower(): v for k, v in headers.items()}

    def header(name: str) -> str | None:
        return lowered.get(f"ratelimit-{name}") or lowered.get(f"x-ratelimit-{name}")

    reset = _seconds(header("reset"), now)
    pause = None
    remaining = header("remaining")
    if remaining is not None and _NUMBER.match(remaining) and float(remaining) <= 0:
        pause = reset if reset is not None else 1.0
    rate = None
    policy = lowered.get("ratelimit-policy") or lowered.get("x-ratelimit-policy")
    if policy and (match := _POLICY.match(policy)) and int(match.group(2)) > 0:
        rate = int(match.group(1)) / int(match.group(2))
    return pause, rate


def _seconds(value: str | None, now: float | None) -> float | None:
    if value is None:
        return None
    if match := _NUMBER.match(value):
        number = float(match.group(1))
        if number > 1_000_000_000:  # an epoch time, not delta-seconds
            return max(0.0, number - (time.time() if now is None else now))
        return number
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
