"""Which mirrored rows the service no longer has, and which it has that the mirror missed.

There is no delta link, so the set's ``$count`` says whether rows vanished; which ones is found
by bisecting ``createdDate`` ranges, one ``/$count`` per range, and listing keys
(``$select=<key>``) only in ranges of about a page whose counts differ: about
``d * log2(pages)`` requests for ``d`` deletions. The ranges of one level are asked for at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from .mirror import stamp_text

__all__ = ["CreatedRange", "DeletionSearch", "range_filter", "split_points"]


class DeletionSearch:
    """One search over the mirror's rows in ``createdDate`` order."""

    def __init__(
        self,
        *,
        count: Callable[[str | None], int],
        keys_in: Callable[[int | None, int | None], Iterable[Any]],
        workers: int,
        leaf: int,
    ) -> None:
        self.count = count  # the service's row count under a $filter (None: all)
        self.keys_in = keys_in  # the service's keys created in [low, high)
        self.workers = max(2, workers)
        self.leaf = leaf  # ranges this small are listed, not halved

    def run(self, stamps: np.ndarray, keys: np.ndarray, total: int) -> tuple[set[Any], set[Any]]:
        """(keys the service no longer has, keys it has that the mirror missed), given the
        mirror's ``stamps`` (int64 nanoseconds, sorted, NaT first) and ``keys`` in that order,
        and the service's ``total``."""
        gone: set[Any] = set()
        missing: set[Any] = set()
        # The top level is cut into as many ranges as there are rows missing at least, since
        # nearly all of them hold one; below that, each range whose counts differ is halved.
        vanished = len(stamps) - total
        pages = max(1, len(stamps) // self.leaf)
        parts = min(max(2, 1 << (vanished - 1).bit_length()), pages) if vanished > 1 else 2
        level = [CreatedRange(0, len(stamps), None, None, total)]
        with ThreadPoolExecutor(self.workers) as pool:
            while level:
                listed, counted = self._ask(pool, level, stamps, parts)
                parts = 2
                level = []
                for span, pieces, futures in counted:
                    counts = [future.result() for future in futures]
                    counts.append(span.count - sum(counts))
                    level.extend(replace(p, count=c) for p, c in zip(pieces, counts, strict=True))
                for span, future in listed:
                    service_keys = set(future.result())
                    local = set(keys[span.first : span.end])
                    gone |= local - service_keys
                    missing |= service_keys - local
        return gone, missing

    def _ask(
        self,
        pool: ThreadPoolExecutor,
        level: list[CreatedRange],
        stamps: np.ndarray,
        parts: int,
    ) -> tuple[list[tuple[CreatedRange, Future[Any]]], list[tuple[Any, ...]]]:
        """The requests of one level: the keys of small ranges whose counts differ, and the
        counts of the pieces of larger ones (the last piece's count is what remains)."""
        listed, counted = [], []
        for span in level:
            if span.count == span.end - span.first:
                continue  # the same number on both sides: nothing vanished here
            points = split_points(stamps, span.first, span.end, parts)
            if span.end - span.first <= self.leaf or not points:
                listed.append((span, pool.submit(self.keys_in, span.low, span.high)))
                continue
            bounds = [span.first, *points, span.end]
            stamps_at = [span.low, *(int(stamps[p]) for p in points), span.high]
            pieces = [
                CreatedRange(bounds[i], bounds[i + 1], stamps_at[i], stamps_at[i + 1], 0)
                for i in range(len(points) + 1)
            ]
            futures = [
                pool.submit(self.count, range_filter(piece.low, piece.high))
                for piece in pieces[:-1]
            ]
            counted.append((span, pieces, futures))
        return listed, counted


def split_points(stamps: np.ndarray, first: int, end: int, parts: int) -> list[int]:
    """Up to ``parts - 1`` indexes in ``(first, end)`` where a new stamp starts, cutting the
    range into about equal pieces; none when it holds one stamp (or no time at all)."""
    nat = np.iinfo(np.int64).min
    window = stamps[first:end]
    points = set()
    for piece in range(1, parts):
        middle = first + (end - first) * piece // parts
        value = stamps[middle]
        split = int(np.searchsorted(window, value, side="left")) + first
        if split <= first or value == nat:
            split = int(np.searchsorted(window, value, side="right")) + first
        if first < split < end and stamps[split] != nat:
            points.add(split)
    return sorted(points)


@dataclass(frozen=True)
class CreatedRange:
    """Rows ``first:end`` of the mirror in createdDate order, the stamps bounding them
    (``None``: open), and how many rows the service has there."""

    first: int
    end: int
    low: int | None
    high: int | None
    count: int


def range_filter(low: int | None, high: int | None) -> str | None:
    """``$filter`` for createdDate in ``[low, high)``; an open lower end takes in rows with
    no date (null, or 0001-01-01, which the mirror holds as NaT)."""
    parts = []
    if low is not None:
        parts.append(f"createdDate ge {stamp_text(pd.Timestamp(low, tz='UTC'))}")
    if high is not None:
        below = f"createdDate lt {stamp_text(pd.Timestamp(high, tz='UTC'))}"
        parts.append(f"({below} or createdDate eq null)" if low is None else below)
    return " and ".join(parts) or None
