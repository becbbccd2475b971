"""Concurrent ``$skip`` windows: the pages after the first, fetched a few at a time.

When the first page carries ``@odata.count``, the rest of a collection is a known list of
``$skip``/``$top`` windows of the observed page size, in a stable order (the user's ``$orderby``
plus the key as a tie-breaker). They are fetched by a small thread pool sharing the transport's
rate limiter (never more than ``concurrency`` requests in flight; pages received are parsed
while the next requests go out), checked (same count, expected sizes, no key twice) and handed
on in order.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from operator import itemgetter
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from .arrow_pages import ArrowPage, PageReader
from .errors import ElfsquadError, ElfsquadHTTPError, IncompleteResultError
from .transport import Params, RequestCancelled, Transport, encode_query

__all__ = [
    "WindowPlan",
    "DataMoved",
    "WindowsRefused",
    "plan_windows",
    "fetch_windows",
    "with_count",
    "without_count",
    "hide_count",
    "MIN_WINDOWS",
]

# A page or two is not worth a thread pool: one more request, one after the other.
MIN_WINDOWS = 2
# Threads that only parse pages, next to the downloading ones: a worker that has received its
# page hands it on and starts the next request instead of parsing first.
PARSING_THREADS = 2
# Options after which the server's paging is the user's own: no windows of ours.
_USER_PAGING = frozenset({"$top", "$skip", "$skiptoken", "$apply", "$count"})
# Data API collections (no key): /data/1/<Set>.
_COLLECTION_PATH = re.compile(r"^/data/1/[A-Za-z_]\w*/?$")


class DataMoved(Exception):
    """Windows disagree with each other: rows were added, removed or moved meanwhile."""


class WindowsRefused(Exception):
    """The service does not serve ``$skip``/``$top`` windows as asked; walk the links."""


def _query_pairs(url: str) -> list[tuple[str, str]]:
    """(decoded name, raw part) for each ``name=value`` of the URL's query."""
    query = urlsplit(url).query
    return [(unquote(part.split("=", 1)[0]), part) for part in query.split("&") if part]


def with_count(url: str, params: Params, limit: int | None, page_size: int = 500) -> Params:
    """``params`` plus ``$count=true`` when a Data API collection could be fetched in windows.

    Nothing is added when the user pages (``$top``/``$skip``/``$skiptoken``), aggregates
    (``$apply``), set ``$count`` already, or asked for two pages or fewer (``limit``).
    """
    parts = urlsplit(url)
    if not _COLLECTION_PATH.match(parts.path):
        return params
    if limit is not None and limit <= MIN_WINDOWS * page_size:
        return params
    items = list(params.items()) if isinstance(params, Mapping) else list(params or [])
    names = {str(name).lower() for name, _ in items}
    names |= {name.lower() for name, _ in _query_pairs(url)}
    if names & _USER_PAGING:
        return params
    return [*items, ("$count", "true")]


def without_count(url: str) -> str:
    """``url`` without the ``$count=true`` that :func:`with_count` appended (for display)."""
    for suffix in ("&$count=true", "?$count=true"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


_ADDED_COUNT = re.compile(r"[?&]\$count=true(?=$|[^\w&=%])")


def hide_count(exc: ElfsquadError) -> ElfsquadError:
    """``exc`` with the ``$count=true`` of :func:`with_count` taken out of its message and URL.

    The user did not ask for the count; errors should show the request as they wrote it.
    """
    exc.message = _ADDED_COUNT.sub("", exc.message)
    exc.args = (exc.message, *exc.args[1:])
    if isinstance(exc, ElfsquadHTTPError):
        exc.url = _ADDED_COUNT.sub("", exc.url)
    return exc


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


def plan_windows(
    url: str,
    records: list[Any],
    count: int | None,
    next_link: str | None,
    *,
    limit: int | None,
    key: Sequence[str] | None,
) -> WindowPlan | None:
    """The windows that fetch the rest of a collection, or ``None`` for the sequential walk."""
    size = len(records)
    if count is None or not next_link or size == 0:
        return None
    pairs = _query_pairs(url)
    names = {name.lower() for name, _ in pairs}
    if names & (_USER_PAGING - {"$count"}):
        return None
    end = count if limit is None else min(count, limit)
    starts = range(size, end, size)
    if len(starts) < MIN_WINDOWS:
        return None
    keys = tuple(key) if key else ("id",)
    kept = [part for name, part in pairs if name.lower() not in ("$orderby", "$top", "$skip")]
    orderby = next((unquote(part.split("=", 1)[1]) for n, part in pairs if n == "$orderby"), "")
    kept.append(encode_query([("$orderby", stable_order(orderby, keys))]))
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), ""))
    first = records[0]
    checked = keys if isinstance(first, dict) and all(k in first for k in keys) else None
    windows = [(skip, min(size, end - skip)) for skip in starts]
    return WindowPlan(base, size, count, end, checked, windows)


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
    concurrency: int,
    reader: PageReader | None = None,
) -> None:
    """Fetch every window of ``plan`` with ``concurrency`` workers; ``deliver`` their records in
    order (after ``first_records``), report each arrival's row count to ``arrived``. With a
    ``reader``, pages that fit its schema are delivered as :class:`ArrowPage`.

    Raises :class:`DataMoved` when windows disagree, :class:`WindowsRefused` when the service
    does not serve them, :class:`IncompleteResultError` when a window fails for good. On any
    exit, Ctrl-C included, no further request starts and the pool is shut down.
    """
    from .paging import page_from_response

    # Set when the fetch ends for any reason: the workers start no request (retries included)
    # and cut short a retry's wait; they raise RequestCancelled, which nobody reads any more.
    stop = threading.Event()

    # At most `concurrency` requests are in flight; the pool's extra threads parse pages
    # meanwhile (the Arrow reader releases the GIL), so parsing does not delay the next request.
    slots = threading.BoundedSemaphore(concurrency)

    def get(skip: int, top: int) -> Any:
        url = plan.window_url(skip, top)
        while not slots.acquire(timeout=0.1):
            if stop.is_set():
                raise RequestCancelled
        try:
            response = transport.request("GET", url, cancel=stop)
        finally:
            slots.release()
        return page_from_response(response, url, reader)

    seen: set[Any] | None = None
    if plan.key is not None:
        try:
            seen = set(_keys(first_records, plan.key))
        except TypeError:  # key values that cannot be compared (not text or numbers)
            seen = None
        if seen is not None and len(seen) != len(first_records):
            raise DataMoved("a key appears twice on the first page")
    first_key = _keys(first_records[:1], plan.key)[0] if seen and first_records else None
    delivered = len(first_records)
    windows = plan.windows
    # Windows submitted but not yet delivered: enough that one slow page in front of the
    # others does not stall the downloads behind it.
    ahead = max(2, concurrency * 4)
    pending: dict[Future[Any], int] = {}
    done: dict[int, Any] = {}
    submitted = 0
    handed = 0
    pool = ThreadPoolExecutor(
        max_workers=concurrency + PARSING_THREADS, thread_name_prefix="elfsquad-page"
    )
    interrupted = False
    try:
        while handed < len(windows):
            while submitted < len(windows) and submitted - handed < ahead:
                pending[pool.submit(get, *windows[submitted])] = submitted
                submitted += 1
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                index = pending.pop(future)
                page = _window_result(future, delivered)
                skip, top = windows[index]
                records = page.records
                if page.count is not None and page.count != plan.count:
                    raise DataMoved(f"the count went from {plan.count} to {page.count}")
                if len(records) > top:
                    raise WindowsRefused(f"$top={top} answered {len(records)} rows")
                if (
                    index == 0
                    and first_key is not None
                    and records
                    and _keys(records[:1], plan.key)[0] == first_key
                ):
                    raise WindowsRefused("$skip was ignored")
                if len(records) < top and page.next_link:
                    # The service pages within a window (a smaller page for $top requests).
                    raise WindowsRefused(f"$top={top} answered {len(records)} rows and a link")
                if len(records) < top:
                    raise DataMoved(f"rows {skip + len(records)}-{skip + top} were missing")
                done[index] = records
                arrived(len(records))
            while handed in done:
                records = done.pop(handed)
                if seen is not None:
                    before = len(seen)
                    try:
                        seen.update(_keys(records, plan.key))
                    except TypeError:
                        seen = None  # key values that cannot be compared: counts still checked
                    if seen is not None and len(seen) - before != len(records):
                        raise DataMoved("a row arrived twice")
                deliver(records)
                delivered += len(records)
                handed += 1
    except BaseException as exc:
        interrupted = not isinstance(exc, Exception)  # Ctrl-C: give control back at once
        raise
    finally:
        stop.set()
        # After a failure, let the requests in flight end (none starts any more) so they
        # cannot land on the service after the error was reported; after Ctrl-C, do not wait.
        pool.shutdown(wait=not interrupted, cancel_futures=True)


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
