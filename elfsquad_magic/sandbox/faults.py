"""Seeded fault injection: which API requests get a 429, a 503 or a cut connection."""

from __future__ import annotations

import random
import threading

FAULT_KINDS = ("429", "503", "cut")


class FaultInjector:
    """Decides, reproducibly for a seed, whether the next API request fails and how."""

    def __init__(self, rate: float = 0.0, seed: int = 0, after: int = 0) -> None:
        self._lock = threading.Lock()
        self.reset(rate, seed, after)

    def reset(self, rate: float, seed: int, after: int = 0) -> None:
        """Start over with a new rate and seed; the next ``after`` requests are served normally."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        if after < 0:
            raise ValueError("fault_after must be 0 or more")
        with self._lock:
            self.rate = rate
            self.seed = seed
            self._clean_left = after
            self._rng = random.Random(seed)

    def next_fault(self) -> str | None:
        """``None`` (serve normally) or one of ``FAULT_KINDS``, in equal shares."""
        with self._lock:
            if self._clean_left > 0:
                # "Fail from the Nth request on": lets a test fetch some pages, then break.
                self._clean_left -= 1
                return None
            if self.rate <= 0.0:
                return None
            # Two draws per request keep the sequence a pure function of (seed, request index).
            hit = self._rng.random() < self.rate
            kind = FAULT_KINDS[self._rng.randrange(len(FAULT_KINDS))]
        return kind if hit else None


SERVICE_UNAVAILABLE_HTML = b"""<!DOCTYPE html>
<html><head><title>503 Service Unavailable</title></head>
<body><h1>Service Unavailable</h1>
<p>The server is temporarily unable to service your request. Please try again later.</p>
</body></html>
"""
