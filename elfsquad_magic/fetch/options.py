"""How one request is fetched, as one value: what used to be five arguments threaded by hand."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.settings import check_output
from ..errors import UsageError
from .progress import ProgressSpec

__all__ = ["FetchOptions"]


@dataclass(frozen=True)
class FetchOptions:
    """The options of one fetch; the defaults read every page into one frame."""

    limit: int | None = None
    """Stop after this many rows (collections)."""
    paginate: bool = True
    """Follow the pages after the first; ``False`` keeps the first page only."""
    raw: bool = False
    """Return the parsed JSON (or text/bytes of a document) instead of a frame."""
    progress: ProgressSpec | None = None
    """A bar (``True``), none (``False``), a callable; ``None``: the client's setting."""
    concurrency: int | None = None
    """Pages in flight for this request only; ``None``: the host's pace."""
    headers: Mapping[str, str] | None = None
    """Extra request headers (``If-Match`` of a journaled write)."""
    idempotent: bool = False
    """A write that may be repeated as a GET is (a chunk of a bulk update)."""
    output: str | None = None
    """``"pandas"``, ``"polars"`` or ``"arrow"`` for this request; ``None``: the setting."""
    sink: Any = None
    """A ``tables.BatchSink`` given each typed Arrow batch of a collection as it is built
    (the mirror's first sync writes them as they come); Arrow and polars outputs only."""

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 0:
            raise UsageError(f"The row limit must be 0 or more, not {self.limit}.")
        if self.concurrency is not None and self.concurrency < 1:
            raise UsageError(f"concurrency must be 1 or more, not {self.concurrency}.")
        check_output(self.output)
