"""Fetch every page of a collection: concurrent ``$skip`` windows or the ``@odata.nextLink``
walk, ``--limit``, progress.

:func:`fetch_collection` is the one entry point; it returns a :class:`FetchResult` whatever the
strategy (see :mod:`.windows` for the concurrent one).
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin

from ..core.request import ODataRequest
from ..core.transport import Transport
from ..errors import (
    DataChangedWarning,
    ElfsquadError,
    IncompleteResultError,
    InsecureURLError,
)
from .arrow_reader import PageReader
from .pace import PaceController
from .page import Page, Records, read_page
from .windows import DataMoved, WindowPlan, WindowsRefused, fetch_windows, plan_windows

__all__ = ["FetchResult", "ProgressReporter", "fetch_collection", "walk_next_links"]

# Turns one page's records into whatever the caller keeps (a DataFrame, or the list itself).
PageConverter = Callable[[Records], Any]

logger = logging.getLogger("elfsquad_magic")


class ProgressReporter(Protocol):
    """What the fetch tells about its progress (``progress.RowProgress`` shows it)."""

    def start(self, total: int | None) -> None:
        """Count from zero towards ``total`` rows (``None``: unknown)."""

    def update(self, rows: int) -> None:
        """``rows`` more rows arrived."""

    def close(self) -> None:
        """The fetch ended."""


class _Silent:
    """No progress shown."""

    def start(self, total: int | None) -> None:
        pass

    def update(self, rows: int) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class FetchResult:
    """What a collection fetch produced: converted pages in order, and how it went."""

    url: str
    pages: list[Any] = field(default_factory=list)
    page_count: int = 0
    rows: int = 0
    odata_count: int | None = None
    elapsed: float = 0.0
    complete: bool = True

    def add(self, page: Any, rows: int) -> None:
        """One more converted page of ``rows`` rows, in order."""
        self.pages.append(page)
        self.page_count += 1
        self.rows += rows


def fetch_collection(
    transport: Transport,
    first: Page,
    *,
    request: ODataRequest | None = None,
    convert: PageConverter = lambda records: records,
    reader: PageReader | None = None,
    limit: int | None = None,
    paginate: bool = True,
    progress: ProgressReporter | None = None,
    pace: PaceController | None = None,
    started: float | None = None,
    key: Sequence[str] | None = None,
    on_restart: Callable[[], None] | None = None,
) -> FetchResult:
    """All pages of a collection, starting from its first (already fetched) page.

    ``limit`` stops after that many rows; ``paginate=False`` keeps the first page only.
    With a ``pace`` that allows more than one request in flight, the ``request`` the first page
    answered (as sent) and an ``@odata.count`` on that page, the remaining pages are fetched as
    concurrent ``$skip``
    windows (ordered by ``key`` as a tie-breaker); otherwise ``@odata.nextLink`` is followed one
    page at a time. ``reader`` (when given) reads the pages after the first into Arrow, so
    ``convert`` must take :class:`ArrowPage` as well as lists. ``convert`` is called once per
    page, in order; when the data moves under a windowed fetch, ``on_restart`` is called and the
    fetch is repeated page by page, with a :class:`DataChangedWarning`.
    """
    started = time.monotonic() if started is None else started
    reporter = progress if progress is not None else _Silent()
    reporter.start(_total(first.count, limit))
    try:
        plan = None
        if paginate and pace is not None and pace.ceiling > 1 and request is not None:
            plan = plan_windows(request, first, api_url=transport.api_url, limit=limit, key=key)
        if plan is not None:
            result = FetchResult(url=first.url, odata_count=first.count)
            try:
                return _fetch_in_windows(
                    transport, first, plan, result, convert, reader, reporter, pace, started
                )
            except WindowsRefused as exc:
                logger.debug("Windows refused (%s); following next links instead", exc)
            except DataMoved as exc:
                warnings.warn(
                    DataChangedWarning(
                        f"The data changed while it was being fetched ({exc}); "
                        "fetching it again one page at a time."
                    ),
                    stacklevel=_user_stacklevel(),
                )
                first = _first_again(transport, first, result.rows)
            if on_restart is not None:
                on_restart()
            reporter.start(_total(first.count, limit))
        return walk_next_links(
            transport,
            first,
            convert=convert,
            limit=limit,
            paginate=paginate,
            progress=reporter,
            started=started,
            reader=reader,
        )
    finally:
        reporter.close()


def _fetch_in_windows(
    transport: Transport,
    first: Page,
    plan: WindowPlan,
    result: FetchResult,
    convert: PageConverter,
    reader: PageReader | None,
    reporter: ProgressReporter,
    pace: PaceController,
    started: float,
) -> FetchResult:
    """The first page, then every window of ``plan``, converted into ``result`` in order."""

    def deliver(records: Records) -> None:
        result.add(convert(records), len(records))

    reporter.update(len(first.records))
    deliver(first.records)
    fetch_windows(
        transport,
        plan,
        first.records,
        deliver=deliver,
        arrived=reporter.update,
        pace=pace,
        reader=reader,
    )
    counted = _count_again(transport, plan)
    if counted is not None and counted != plan.count:
        raise DataMoved(f"the count went from {plan.count} to {counted}")
    result.elapsed = time.monotonic() - started
    return result


def _count_again(transport: Transport, plan: WindowPlan) -> int | None:
    """The set's count now, asked once at the end of a windowed fetch; ``None`` when it cannot
    be had (the windows' own checks of sizes and keys then stand alone)."""
    try:
        return read_page(transport, plan.count_url).count
    except ElfsquadError as exc:
        logger.debug("The closing count failed (%s); sizes and keys were checked", exc)
        return None


def _first_again(transport: Transport, first: Page, rows: int) -> Page:
    """The first page fetched anew (the data moved since it came)."""
    try:
        return read_page(transport, first.url)
    except ElfsquadError as exc:
        raise IncompleteResultError(
            f"The fetch stopped after {rows} rows: {exc.message}",
            exc.hint or "The result is incomplete; run the query again.",
            rows_fetched=rows,
        ) from None


# Frames a warning should not be attributed to: this package and the magic machinery above it.
_NOT_USER_CODE = (__name__.split(".")[0], "IPython", "decorator", "traitlets")


def _user_stacklevel() -> int:
    """The stack level of the caller's own code (a script line, or the notebook cell).

    A warning attributed there is shown every time: Python shows it once per code location.
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith(_NOT_USER_CODE):
        frame = frame.f_back
        level += 1
    return level


def walk_next_links(
    transport: Transport,
    first: Page,
    *,
    convert: PageConverter,
    limit: int | None,
    paginate: bool,
    progress: ProgressReporter | None = None,
    started: float,
    reader: PageReader | None = None,
) -> FetchResult:
    """Follow ``@odata.nextLink`` one page at a time until the last page or ``limit`` rows."""
    result = FetchResult(url=first.url, odata_count=first.count)
    seen = {first.url}
    bar = progress if progress is not None else _Silent()
    page = first
    while True:
        records = page.records
        if limit is not None and result.rows + len(records) > limit:
            records = records[: max(0, limit - result.rows)]
        result.add(convert(records), len(records))
        bar.update(len(records))
        if not page.next_link or not paginate or (limit is not None and result.rows >= limit):
            break
        link = urljoin(page.url, page.next_link)
        if link in seen:
            raise IncompleteResultError(
                f"The service sent a next-page link it had sent before ({link}); "
                f"stopped after {result.rows} rows instead of looping.",
                "The result would be incomplete. Add $orderby, or fetch the first page "
                "only with --no-paginate.",
                rows_fetched=result.rows,
            )
        seen.add(link)
        try:
            transport.check_url(link, "next-page link")
        except InsecureURLError as exc:
            raise InsecureURLError(
                f"{exc.message} Stopped after {result.rows} rows.", exc.hint
            ) from None
        try:
            # The page keeps the link as sent: the seen-set compares what the service
            # hands out.
            page = read_page(transport, link, reader=reader)
        except ElfsquadError as exc:
            if isinstance(exc, IncompleteResultError):
                raise
            raise IncompleteResultError(
                f"The fetch stopped after {result.rows} rows ({result.page_count} pages): "
                f"{exc.message}",
                exc.hint or "The result is incomplete; run the query again.",
                rows_fetched=result.rows,
            ) from None
    result.elapsed = time.monotonic() - started
    return result


def _total(count: int | None, limit: int | None) -> int | None:
    if count is None:
        return limit
    return min(count, limit) if limit is not None else count
