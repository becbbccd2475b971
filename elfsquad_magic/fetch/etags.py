"""The ETags of the records this session read, so a write to one of them can send ``If-Match``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..core.odata import ETAG

__all__ = ["ETagMemory"]


class ETagMemory:
    """The ETags of the records read in this session, by entity set and key: a write to one
    of them sends ``If-Match`` with it. The newest read of a record wins; the oldest reads are
    forgotten past ``limit`` records. A read is kept as its two columns, as they came (Arrow
    arrays when the result has them: the keys are then the result's own buffers, and a read
    of a million rows costs no Python object per row); a write's lookup scans them."""

    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self._reads: list[tuple[str, Any, Any]] = []  # oldest first
        self._size = 0

    def remember(
        self, entity_set: str, keys: Sequence[Any] | Any, etags: Sequence[Any] | Any
    ) -> None:
        """Note the ETags of these records (a ``None`` ETag: not known); ``keys`` and
        ``etags`` are sequences, NumPy arrays or Arrow arrays."""
        if not isinstance(keys, (pa.Array, pa.ChunkedArray)):
            keys = np.asarray(keys, dtype=object)
        if not isinstance(etags, (pa.Array, pa.ChunkedArray)):
            etags = np.asarray(etags, dtype=object)
        if len(keys) == 0:
            return
        self._reads.append((entity_set.lower(), keys, etags))
        self._size += len(keys)
        while self._size > self.limit and len(self._reads) > 1:
            self._size -= len(self._reads.pop(0)[1])

    def get(self, entity_set: str, key: Any) -> str | None:
        """The ETag this session last read for the record, or ``None``."""
        wanted = entity_set.lower()
        for name, keys, etags in reversed(self._reads):
            if name != wanted:
                continue
            found = _positions(keys, key)
            if not len(found) and isinstance(key, str):
                found = _positions(keys, key.lower())
            if len(found):
                etag = etags[int(found[-1])]
                if isinstance(etag, pa.Scalar):
                    etag = etag.as_py()
                return etag if isinstance(etag, str) else None
        return None

    def forget(self, entity_set: str, key: Any) -> None:
        """Drop a record's ETag (it was written; its old ETag no longer holds)."""
        self.remember(entity_set, [key], [None])

    def take(self, frame: Any, entity_set: str, key: str | None) -> Any:
        """``frame`` (a pandas frame, taken out in place, or an Arrow table) without its
        ``@odata.etag`` column, whose ETags are remembered."""
        if isinstance(frame, pa.Table):
            if ETAG not in frame.column_names:
                return frame
            etags = frame.column(ETAG)
            frame = frame.drop_columns([ETAG])
            if key is not None and key in frame.column_names:
                self.remember(entity_set, frame.column(key), etags)
            return frame
        if ETAG not in frame.columns:
            return frame
        etags = frame.pop(ETAG)
        if key is not None and key in frame.columns:
            self.remember(entity_set, _column(frame[key]), _column(etags))
        return frame


def _column(series: pd.Series) -> Any:
    """A frame's column as kept: its Arrow array when it is Arrow-backed (not copied), else
    its values."""
    if hasattr(series.array, "__arrow_array__") and series.dtype != object:
        try:
            return pa.array(series.array)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            pass
    return series.to_numpy()


def _positions(keys: Any, key: Any) -> Any:
    if isinstance(keys, (pa.Array, pa.ChunkedArray)):
        try:
            scalar = pa.scalar(key, type=keys.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            return []
        return pc.indices_nonzero(pc.fill_null(pc.equal(keys, scalar), False)).to_numpy()
    return np.flatnonzero(keys == key)
