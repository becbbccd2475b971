"""Concurrent ``$skip`` windows: the pages after the first, fetched a few at a time.

When the first page carries ``@odata.count``, the rest of a collection is a known list of
``$skip``/``$top`` windows of the observed page size, in a stable order (the user's ``$orderby``
plus the key as a tie-breaker). They are fetched by a small thread pool sharing the transport's
rate limiter (never more requests in flight than the pace controller allows, see
:mod:`.pace`; pages received are parsed on two threads of their own while the next requests
go out), checked (expected sizes, no key twice) and handed on in order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.odata import USER_PAGING_OPTIONS
from ..core.request import ODataRequest
from ..core.transport import RequestCancelled, Transport
from ..errors import ElfsquadError, ElfsquadHTTPError, IncompleteResultError
from .arrow_reader import ArrowPage, PageReader
from .pace import PaceController
from .page import Page, page_from_response

__all__ = [
    "WindowPlan",
    "DataMoved",
    "WindowsRefused",
    "plan_windows",
    "fetch_windows",
    "guid_bits",
    "with_count",
    "MIN_WINDOWS",
]

# A page or two is not worth a thread pool: one more request, one after the other.
MIN_WINDOWS = 2
# Threads that only parse pages, next to the downloading ones: a worker that has received its
# page hands it on and starts the next request instead of parsing first. Two: the Arrow reader
# releases the GIL, so they keep two cores busy.
PARSING_THREADS = 2


class DataMoved(Exception):
    """Windows disagree with each other: rows were added, removed or moved meanwhile."""


class WindowsRefused(Exception):
    """The service does not serve ``$skip``/``$top`` windows as asked; walk the links."""


def with_count(request: ODataRequest, limit: int | None, page_size: int = 500) -> ODataRequest:
    """``request`` asking for ``@odata.count`` too, when a Data API collection could be fetched
    in windows; else ``request`` itself.

    Nothing is added when the user pages (``$top``/``$skip``/``$skiptoken``), aggregates
    (``$apply``), set ``$count`` already, or asked for two pages or fewer (``limit``).
    """
    if request.method != "GET" or not request.is_data_collection:
        return request
    if limit is not None and limit <= MIN_WINDOWS * page_size:
        return request
    if request.has_any_option(USER_PAGING_OPTIONS):
        return request
    return request.with_options(("$count", "true"))


@dataclass
class WindowPlan:
    """The windows after the first page: ``(skip, top)`` pairs over ``url`` in a fixed order."""

    url: str  # the first page's URL with the stable $orderby, without $top/$skip
    page_size: int
    count: int
    end: int  # rows wanted in all: the count, or the limit when smaller
    key: tuple[str, ...] | None  # checked for duplicates when the records carry it
    windows: list[tuple[int, int]]

    def window_url(self, skip: int, top: int) -> str:
        """The URL of the window that starts at row ``skip``."""
        return f"{self.url}{'&' if '?' in self.url else '?'}$top={top}&$skip={skip}"

    @property
    def count_url(self) -> str:
        """The URL that counts the rows again (no rows, ``@odata.count`` only)."""
        return f"{self.url}{'&' if '?' in self.url else '?'}$top=0&$count=true"


def plan_windows(
    request: ODataRequest,
    first: Page,
    *,
    api_url: str,
    limit: int | None,
    key: Sequence[str] | None,
) -> WindowPlan | None:
    """The windows that fetch the rest of a collection after its ``first`` page, which answered
    ``request`` (as sent); ``None`` for the sequential walk."""
    size = len(first.records)
    count = first.count
    if count is None or not first.next_link or size == 0:
        return None
    if request.has_any_option(USER_PAGING_OPTIONS - {"$count"}):
        return None
    end = count if limit is None else min(count, limit)
    starts = range(size, end, size)
    if len(starts) < MIN_WINDOWS:
        return None
    keys = tuple(key) if key else ("id",)
    orderby = stable_order(request.option("$orderby") or "", keys)
    # The windows ask for no count: on a SQL-backed service each would COUNT the whole set.
    # Moved data shows in page sizes and keys, and in one more count at the end (count_url).
    base = request.without_options("$orderby", "$top", "$skip", "$count")
    base = base.with_options(("$orderby", orderby))
    head = first.records[0]
    checked = keys if isinstance(head, dict) and all(k in head for k in keys) else None
    windows = [(skip, min(size, end - skip)) for skip in starts]
    return WindowPlan(base.url(api_url), size, count, end, checked, windows)


def stable_order(orderby: str, key: Sequence[str]) -> str:
    """``$orderby`` with the key appended as a tie-breaker unless it is already there."""
    items = [item.strip() for item in _split_top_level(orderby) if item.strip()]
    named = {item.split()[0] for item in items}
    items += [name for name in key if name not in named]
    return ",".join(items)


def _split_top_level(text: str) -> list[str]:
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return out


def fetch_windows(
    transport: Transport,
    plan: WindowPlan,
    first_records: list[Any],
    *,
    deliver: Callable[[list[Any]], None],
    arrived: Callable[[int], None],
    pace: PaceController,
    reader: PageReader | None = None,
) -> None:
    """Fetch every window of ``plan`` with as many requests in flight as ``pace`` allows (it
    may change as the answers come); ``deliver`` their records in
    order (after ``first_records``), report each arrival's row count to ``arrived``. With a
    ``reader``, pages that fit its schema are delivered as :class:`ArrowPage`.

    Raises :class:`DataMoved` when windows disagree, :class:`WindowsRefused` when the service
    does not serve them, :class:`IncompleteResultError` when a window fails for good. On any
    exit, Ctrl-C included, no further request starts and the pool is shut down.
    """
    run = _WindowRun(transport, plan, first_records, pace, reader)
    pool = ThreadPoolExecutor(max_workers=pace.ceiling, thread_name_prefix="elfsquad-page")
    parsers = ThreadPoolExecutor(max_workers=PARSING_THREADS, thread_name_prefix="elfsquad-parse")
    interrupted = False
    try:
        run.fetch(pool, parsers, deliver, arrived)
    except BaseException as exc:
        interrupted = not isinstance(exc, Exception)  # Ctrl-C: give control back at once
        raise
    finally:
        run.stop.set()
        # After a failure, let the requests in flight end (none starts any more) so they
        # cannot land on the service after the error was reported; after Ctrl-C, do not wait.
        pool.shutdown(wait=not interrupted, cancel_futures=True)
        parsers.shutdown(wait=not interrupted, cancel_futures=True)


class _WindowRun:
    """The windows of one fetch: submitted a few ahead, checked, and handed on in order."""

    def __init__(
        self,
        transport: Transport,
        plan: WindowPlan,
        first_records: list[Any],
        pace: PaceController,
        reader: PageReader | None,
    ) -> None:
        self.transport = transport
        self.plan = plan
        self.pace = pace
        self.reader = reader
        # Set when the fetch ends for any reason: the workers start no request (retries
        # included) and cut short a retry's wait; they raise RequestCancelled, which nobody
        # reads any more.
        self.stop = threading.Event()
        self.keys = _KeyCheck(plan.key, first_records)
        # Downloads in flight (each gives the future of its parsing), then parsings under way.
        self.pending: dict[Future[Any], int] = {}
        self.done: dict[int, Any] = {}
        self.submitted = self.handed = 0
        self.delivered = len(first_records)

    def ahead(self) -> int:
        """Windows submitted but not yet delivered: enough that one slow page in front of
        the others does not stall the downloads behind it (follows the window as it moves)."""
        return max(8, self.pace.limit * 2)

    def get(self, parsers: ThreadPoolExecutor, skip: int, top: int) -> Future[Page]:
        """One window's answer, handed to a parsing thread; at most ``pace.limit`` in flight."""
        url = self.plan.window_url(skip, top)
        if not self.pace.acquire(self.stop.is_set):
            raise RequestCancelled
        try:
            response = self.transport.request("GET", url, cancel=self.stop)
        finally:
            self.pace.release()
        # Parsed on a few threads of their own: however many requests are in flight, only
        # these hold parsing memory (pyarrow keeps some per thread), and this worker goes
        # straight to its next request.
        return parsers.submit(page_from_response, response, url, self.reader)

    def fetch(
        self,
        pool: ThreadPoolExecutor,
        parsers: ThreadPoolExecutor,
        deliver: Callable[[list[Any]], None],
        arrived: Callable[[int], None],
    ) -> None:
        """Every window, delivered in order."""
        windows = self.plan.windows
        while self.handed < len(windows):
            while self.submitted < len(windows) and self.submitted - self.handed < self.ahead():
                future = pool.submit(self.get, parsers, *windows[self.submitted])
                self.pending[future] = self.submitted
                self.submitted += 1
            finished, _ = wait(self.pending, return_when=FIRST_COMPLETED)
            for future in finished:
                index = self.pending.pop(future)
                outcome = _window_result(future, self.delivered)
                if isinstance(outcome, Future):
                    self.pending[outcome] = index  # downloaded: its parsing is under way
                    continue
                self.done[index] = _checked_records(outcome, self.plan, index, self.keys)
                arrived(len(self.done[index]))
            while self.handed in self.done:
                records = self.done.pop(self.handed)
                self.keys.add(records)
                deliver(records)
                self.delivered += len(records)
                self.handed += 1
        self.keys.finish()


class _KeyCheck:
    """The keys delivered so far: a key that arrives twice means the rows moved. GUID keys
    of Arrow pages are kept as their 128 bits (two integers, no Python object each) and
    compared once at the end: as Python strings in a set, a million keys would hold some
    170 MB until the fetch ends, and take a second of the GIL."""

    def __init__(self, key: tuple[str, ...] | None, first_records: list[Any]) -> None:
        self.key = key
        self.seen: set[Any] | None = None
        self.guids: list[np.ndarray] = []
        self.first_key: Any = None
        if key is None:
            return
        try:
            self.seen = set(_keys(first_records, key))
        except TypeError:  # key values that cannot be compared (not text or numbers)
            return
        if len(self.seen) != len(first_records):
            raise DataMoved("a key appears twice on the first page")
        if self.seen and first_records:
            self.first_key = _keys(first_records[:1], key)[0]

    def starts_like_the_first_page(self, records: Any) -> bool:
        """Whether ``records`` begin with the first page's first key ($skip ignored)."""
        return (
            self.first_key is not None
            and len(records) > 0
            and _keys(records[:1], self.key)[0] == self.first_key
        )

    def add(self, records: Any) -> None:
        """Note the keys of ``records``; :class:`DataMoved` when one was delivered before
        (GUIDs of Arrow pages: at :meth:`finish`)."""
        if self.seen is None:
            return
        if isinstance(records, ArrowPage) and self.key and len(self.key) == 1:
            names = records.columns
            if self.key[0] in names:
                guids = guid_bits(pc.struct_field(records.rows, [names.index(self.key[0])]))
                if guids is not None:
                    self.guids.append(guids)
                    return
        before = len(self.seen)
        try:
            self.seen.update(_keys(records, self.key))
        except TypeError:
            self.seen = None  # key values that cannot be compared: counts still checked
            return
        if len(self.seen) - before != len(records):
            raise DataMoved("a row arrived twice")

    def finish(self) -> None:
        """:class:`DataMoved` when a GUID kept as bits arrived twice (among those, or also as
        text on a decoded page); called once every page was delivered."""
        if self.seen is None or not self.guids:
            return
        kept = self.guids
        texts = [k for k in self.seen if isinstance(k, str)]
        decoded = guid_bits(pa.array(texts, pa.string())) if texts else None
        if decoded is not None:
            kept = [*kept, decoded]
        bits = np.concatenate(kept)
        order = np.lexsort((bits[:, 1], bits[:, 0]))
        ordered = bits[order]
        if bool((ordered[1:] == ordered[:-1]).all(axis=1).any()):
            raise DataMoved("a row arrived twice")


def guid_bits(keys: Any) -> np.ndarray | None:
    """Arrow texts that are all GUIDs (``8-4-4-4-12`` hex digits) as their 128 bits, one row
    of two ``uint64`` each (either case of a digit gives the same bits); ``None`` when any
    is not a GUID or is null."""
    if keys.null_count or not (
        pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type)
    ):
        return None
    try:
        fixed = keys.cast(pa.binary(36))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # not every key has 36 characters
    size = len(fixed)
    text = np.frombuffer(fixed.buffers()[1], dtype=np.uint8, count=size * 36)
    text = text.reshape(size, 36)
    if not (text[:, _GUID_DASHES] == ord("-")).all():
        return None
    digits = _HEX_VALUES[text[:, _GUID_DIGITS]]
    if (digits < 0).any():
        return None
    digits = digits.astype(np.uint64)
    return np.stack([digits[:, :16] @ _NIBBLE_WEIGHTS, digits[:, 16:] @ _NIBBLE_WEIGHTS], axis=1)


_GUID_DASHES = [8, 13, 18, 23]
_GUID_DIGITS = [i for i in range(36) if i not in _GUID_DASHES]
_HEX_VALUES = np.full(256, -1, dtype=np.int16)
for _i, _c in enumerate("0123456789abcdef"):
    _HEX_VALUES[ord(_c)] = _HEX_VALUES[ord(_c.upper())] = _i
_NIBBLE_WEIGHTS = np.array([16**i for i in range(15, -1, -1)], dtype=np.uint64)


def _checked_records(page: Page, plan: WindowPlan, index: int, keys: _KeyCheck) -> Any:
    """The records of window ``index``, once they fit the plan."""
    skip, top = plan.windows[index]
    records = page.records
    if page.count is not None and page.count != plan.count:
        raise DataMoved(f"the count went from {plan.count} to {page.count}")
    if len(records) > top:
        raise WindowsRefused(f"$top={top} answered {len(records)} rows")
    if index == 0 and keys.starts_like_the_first_page(records):
        raise WindowsRefused("$skip was ignored")
    if len(records) < top and page.next_link:
        # The service pages within a window (a smaller page for $top requests).
        raise WindowsRefused(f"$top={top} answered {len(records)} rows and a link")
    if len(records) < top:
        raise DataMoved(f"rows {skip + len(records)}-{skip + top} were missing")
    return records


def _keys(records: list[Any] | ArrowPage, key: tuple[str, ...] | None) -> list[Any]:
    if not key:
        return []
    if isinstance(records, ArrowPage):
        return records.key_values(key)
    try:
        return list(map(itemgetter(*key), records))
    except (KeyError, TypeError):  # a record without its key: compare what there is
        if len(key) == 1:
            return [record.get(key[0]) for record in records]
        return [tuple(record.get(name) for name in key) for record in records]


def _window_result(future: Future[Any], delivered: int) -> Any:
    try:
        return future.result()
    except ElfsquadHTTPError as exc:
        if exc.status in (400, 501):
            # $skip/$top/$orderby refused: the sequential walk does without them.
            raise WindowsRefused(exc.message) from None
        raise _incomplete(exc, delivered) from None
    except ElfsquadError as exc:
        raise _incomplete(exc, delivered) from None


def _incomplete(exc: ElfsquadError, delivered: int) -> IncompleteResultError:
    return IncompleteResultError(
        f"The fetch stopped after {delivered} rows: {exc.message}",
        exc.hint or "The result is incomplete; run the query again.",
        rows_fetched=delivered,
    )
