"""The ETags of the records this session read, so a write to one of them can send ``If-Match``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..core.odata import ETAG

__all__ = ["ETagMemory"]


class ETagMemory:
    """The ETags of the records read in this session, by entity set and key: a write to one
    of them sends ``If-Match`` with it. The newest read of a record wins; the oldest reads are
    forgotten past ``limit`` records. A read is kept as its two columns, as they came: a fetch
    of 100,000 rows pays nothing per row, a write's lookup scans them."""

    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self._reads: list[tuple[str, np.ndarray, np.ndarray]] = []  # oldest first
        self._size = 0

    def remember(self, entity_set: str, keys: Sequence[Any], etags: Sequence[Any]) -> None:
        """Note the ETags of these records (a ``None`` ETag: not known)."""
        key_array = np.asarray(keys, dtype=object)
        if len(key_array) == 0:
            return
        self._reads.append((entity_set.lower(), key_array, np.asarray(etags, dtype=object)))
        self._size += len(key_array)
        while self._size > self.limit and len(self._reads) > 1:
            self._size -= len(self._reads.pop(0)[1])

    def get(self, entity_set: str, key: Any) -> str | None:
        """The ETag this session last read for the record, or ``None``."""
        wanted = entity_set.lower()
        for name, keys, etags in reversed(self._reads):
            if name != wanted:
                continue
            found = np.flatnonzero(keys == key)
            if not len(found) and isinstance(key, str):
                found = np.flatnonzero(keys == key.lower())
            if len(found):
                etag = etags[found[-1]]
                return etag if isinstance(etag, str) else None
        return None

    def forget(self, entity_set: str, key: Any) -> None:
        """Drop a record's ETag (it was written; its old ETag no longer holds)."""
        self.remember(entity_set, [key], [None])

    def take(self, frame: pd.DataFrame, entity_set: str, key: str | None) -> pd.DataFrame:
        """``frame`` without its ``@odata.etag`` column (taken out in place), whose ETags are
        remembered."""
        if ETAG not in frame.columns:
            return frame
        etags = frame.pop(ETAG)
        if key is not None and key in frame.columns:
            self.remember(entity_set, frame[key].to_numpy(), etags.to_numpy())
        return frame
