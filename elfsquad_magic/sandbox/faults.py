"""Seeded fault injection: which API requests get a 429, a 503 or a cut connection."""

from __future__ import annotations

import random
import threading

__all__ = ["FAULT_KINDS", "FaultInjector", "SERVICE_UNAVAILABLE_HTML"]

FAULT_KINDS = ("429", "503", "cut")


class FaultInjector:
    """Decides, reproducibly for a seed, whether the next API request fails and how."""

    def __init__(self, rate: float = 0.0, seed: int = 0, after: int = 0) -> None:
        self._lock = threading.Lock()
        self.reset(rate, seed, after)

    def reset(
        self,
        rate: float,
        seed: int,
        after: int = 0,
        kinds: tuple[str, ...] = FAULT_KINDS,
        limit: int | None = None,
        writes_only: bool = False,
    ) -> None:
        """Start over with a new rate and seed; the next ``after`` requests are served normally.
        ``kinds`` are the faults drawn from; after ``limit`` faults there are no more;
        ``writes_only`` leaves reads alone (``after`` then counts writes)."""
        if not kinds or any(kind not in FAULT_KINDS for kind in kinds):
            raise ValueError(f"fault kinds are some of {', '.join(FAULT_KINDS)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        if after < 0:
            raise ValueError("fault_after must be 0 or more")
        with self._lock:
            self.rate = rate
            self.seed = seed
            self._clean_left = after
            self._rng = random.Random(seed)
            self.kinds = tuple(kinds)
            self._faults_left = limit
            self.writes_only = writes_only

    def next_fault(self, method: str = "GET") -> str | None:
        """``None`` (serve normally) or one of the kinds, in equal shares."""
        with self._lock:
            if self.writes_only and method in ("GET", "HEAD"):
                return None
            if self._clean_left > 0:
                # "Fail from the Nth request on": lets a test fetch some pages, then break.
                self._clean_left -= 1
                return None
            if self.rate <= 0.0 or self._faults_left == 0:
                return None
            # Two draws per request keep the sequence a pure function of (seed, request index).
            hit = self._rng.random() < self.rate
            kind = self.kinds[self._rng.randrange(len(self.kinds))]
            if hit and self._faults_left is not None:
                self._faults_left -= 1
        return kind if hit else None


SERVICE_UNAVAILABLE_HTML = b"""<!DOCTYPE html>
<html><head><title>503 Service Unavailable</title></head>
<body><h1>Service Unavailable</h1>
<p>The server is temporarily unable to service your request. Please try again later.</p>
</body></html>
"""
