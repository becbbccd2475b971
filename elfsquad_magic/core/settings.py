"""The client's settings as three small values: HTTP, results and storage.

``ElfsquadClient`` takes them whole (``http=HttpSettings(timeout=10)``) or as the flat keywords
they have always been (``timeout=10``); the engine reads the HTTP and result settings at each
fetch, the mirror and the journal the storage ones. Each value checks itself when made, so a
wrong setting fails where it is given, with a message that says what is allowed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from ..errors import UsageError

__all__ = [
    "DEFAULT_LOOKBACK",
    "DEFAULT_MAX_CONCURRENCY",
    "DTYPE_BACKENDS",
    "OUTPUTS",
    "HttpSettings",
    "ResultSettings",
    "SettingAttribute",
    "StorageSettings",
    "all_settings",
    "check_output",
    "require_polars",
    "split_settings",
]

DTYPE_BACKENDS = (None, "numpy_nullable", "pyarrow")
"""The column dtype families of pandas: NumPy (``None``), nullable NumPy, or Arrow."""
OUTPUTS = ("pandas", "polars", "arrow")
"""What a result is: a pandas DataFrame, a polars DataFrame or a ``pyarrow.Table``."""
DEFAULT_MAX_CONCURRENCY = 16
"""The most pages in flight when the pace is found by itself."""
DEFAULT_LOOKBACK = 300.0
"""Seconds before a mirror's watermark from which a sync reads changed rows again: a
transaction stamped before the watermark may commit after it was read."""


@dataclass(frozen=True)
class HttpSettings:
    """How requests go: time-outs, the retry budget and how many at once."""

    timeout: float = 30.0
    """Seconds to wait for the service on each HTTP request."""
    retry_seconds: float = 60.0
    """Total seconds a GET may spend retrying connection errors, 429 and 502/503/504."""
    concurrency: int | None = None
    """Pages fetched at once; ``None``: found by itself for each API host."""
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    """The most pages in flight when the concurrency is found by itself."""
    calls_per_minute: int | None = None
    """A hard cap on API calls per minute (``None``: none beyond the service's 429s)."""

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise UsageError(f"timeout must be more than 0 seconds, not {self.timeout}.")
        if self.retry_seconds < 0:
            raise UsageError(f"retry_seconds must be 0 or more, not {self.retry_seconds}.")
        if self.concurrency is not None and self.concurrency < 1:
            raise UsageError(f"concurrency must be 1 or more, not {self.concurrency}.")
        if self.max_concurrency < 1:
            raise UsageError(f"max_concurrency must be 1 or more, not {self.max_concurrency}.")
        if self.calls_per_minute is not None and self.calls_per_minute <= 0:
            raise UsageError(
                f"calls_per_minute must be a positive number, not {self.calls_per_minute}.",
                "Leave it unset (None) for no limit.",
            )


@dataclass(frozen=True)
class ResultSettings:
    """How results come back: column dtypes and the progress of long fetches."""

    dtype_backend: str | None = None
    """Column dtypes, as in pandas: ``None`` (NumPy), ``"numpy_nullable"`` or ``"pyarrow"``."""
    progress: bool | Callable[[int, int | None], None] = True
    """A progress bar for fetches of several pages, or a callable given (rows, total)."""
    progress_bar: Callable[[int | None, int], Any] | None = None
    """What draws the bar (``None``: tqdm's); the notebook layer gives one of its own."""
    output: str = "pandas"
    """What results are: ``"pandas"``, ``"polars"`` (needs the ``polars`` extra) or
    ``"arrow"`` (a ``pyarrow.Table``)."""

    def __post_init__(self) -> None:
        if self.dtype_backend not in DTYPE_BACKENDS:
            raise UsageError(
                f"Unknown dtype backend {self.dtype_backend!r}.",
                "Use None, 'numpy_nullable' or 'pyarrow' (as in pandas).",
            )
        check_output(self.output)


def check_output(output: str | None) -> None:
    """Refuse an output type that is not one of :data:`OUTPUTS` (``None``: the setting), and
    ``"polars"`` when polars is not installed."""
    if output is None:
        return
    if output not in OUTPUTS:
        raise UsageError(
            f"Unknown output {output!r}.",
            "Use 'pandas' (a pandas DataFrame), 'polars' or 'arrow' (a pyarrow.Table).",
        )
    if output == "polars":
        require_polars()


def require_polars() -> Any:
    """The polars module, or a :class:`UsageError` naming the extra to install."""
    try:
        import polars
    except ImportError:
        raise UsageError(
            "Polars results need polars, which is not installed.",
            "Install the extra: pip install 'elfsquad-magic[polars]' (or pip install polars), "
            "then restart the kernel; or use output='arrow' or 'pandas'.",
        ) from None
    return polars


@dataclass(frozen=True)
class StorageSettings:
    """Where the mirror and the journal live, and how writes are chunked."""

    mirror_dir: str | os.PathLike[str] | None = None
    """The mirror's folder; ``None``: ``$ELFSQUAD_MIRROR_DIR``, else the user cache folder."""
    sync_lookback: float = DEFAULT_LOOKBACK
    """Seconds before the watermark from which a sync reads changed rows again."""
    journal_dir: str | os.PathLike[str] | None = None
    """The journal's folder; ``None``: ``$ELFSQUAD_JOURNAL_DIR``, else the user data folder."""
    journal_writes: bool = True
    """Whether writes go through the journal (before-images, undo)."""
    bulk_size: int = 500
    """Records per request of a bulk action."""

    def __post_init__(self) -> None:
        if self.sync_lookback < 0:
            raise UsageError(f"sync_lookback must be 0 or more, not {self.sync_lookback}.")
        if self.bulk_size < 1:
            raise UsageError(f"bulk_size must be 1 or more, not {self.bulk_size}.")


_Settings = TypeVar("_Settings", HttpSettings, ResultSettings, StorageSettings)


def all_settings(
    http: HttpSettings | None,
    results: ResultSettings | None,
    storage: StorageSettings | None,
    flat: dict[str, Any],
) -> tuple[HttpSettings, ResultSettings, StorageSettings]:
    """The three settings values, each ``base`` with its flat keywords of ``flat`` applied; a
    ``TypeError`` names a keyword none of them has."""
    values = (
        split_settings(http, HttpSettings, flat),
        split_settings(results, ResultSettings, flat),
        split_settings(storage, StorageSettings, flat),
    )
    if flat:
        raise TypeError(f"ElfsquadClient has no setting {next(iter(flat))!r}")
    return values


def split_settings(
    base: _Settings | None, kind: type[_Settings], flat: dict[str, Any]
) -> _Settings:
    """``base`` (or the defaults) with the flat keywords of ``kind`` taken out of ``flat``."""
    names = {f.name for f in fields(kind)}
    mine = {name: flat.pop(name) for name in list(flat) if name in names}
    return replace(base if base is not None else kind(), **mine)


class SettingAttribute:
    """A flat attribute (``client.timeout``) over one field of a settings value: read from
    the value named ``group``, written through the owner's ``configure``."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, client: Any, owner: type | None = None) -> Any:
        if client is None:
            return self
        return getattr(getattr(client, self.group), self.name)

    def __set__(self, client: Any, value: Any) -> None:
        client.configure(**{self.name: value})
