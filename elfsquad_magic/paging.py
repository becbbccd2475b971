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
from typing import Any
from urllib.parse import urljoin

from .arrow_pages import ArrowPage, PageReader
from .errors import (
    DataChangedWarning,
    ElfsquadError,
    IncompleteResultError,
    InsecureURLError,
    ResponseFormatError,
)
from .transport import Transport, is_json_response, parse_json_response
from .windows import DataMoved, WindowsRefused, fetch_windows, plan_windows

__all__ = ["FetchResult", "Page", "fetch_collection", "walk_next_links"]

Records = list[dict[str, Any]] | ArrowPage
# Turns one page's records into whatever the caller keeps (a DataFrame, or the list itself).
PageConverter = Callable[[Records], Any]
# True/False for a tqdm bar, or a callable given (rows so far, expected total or None).
Progress = bool | Callable[[int, int | None], None]

logger = logging.getLogger("elfsquad_magic")


@dataclass
class Page:
    """One response of a collection: its records (decoded, or an :class:`ArrowPage`) and the
    link to the next one."""

    url: str
    records: Records
    next_link: str | None
    count: int | None = None


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


def page_from_payload(url: str, payload: Any) -> Page:
    """A :class:`Page` from a parsed collection answer ``{"value": [...], ...}``."""
    if not isinstance(payload, dict) or not isinstance(payload.get("value"), list):
        raise ResponseFormatError(
            f"GET {url} did not answer with a collection (no 'value' list).",
            "Use --raw to see the answer as it came.",
        )
    link = payload.get("@odata.nextLink")
    count = payload.get("@odata.count")
    return Page(
        url=url,
        records=payload["value"],
        next_link=link if isinstance(link, str) and link else None,
        count=count if isinstance(count, int) else None,
    )


def read_page(transport: Transport, url: str, *, reader: PageReader | None = None) -> Page:
    """GET one page: into Arrow by ``reader`` when the page fits its schema, otherwise decoded
    (which reports an answer that is no collection)."""
    return page_from_response(transport.request("GET", url), url, reader)


def page_from_response(response: Any, url: str, reader: PageReader | None = None) -> Page:
    """The :class:`Page` in a collection answer: Arrow when ``reader`` takes it, else decoded."""
    if reader is not None and is_json_response(response):
        page = reader.read(response.content)
        if page is not None:
            return Page(url=url, records=page, next_link=page.next_link, count=page.count)
    return page_from_payload(url, parse_json_response(response, "GET"))


def fetch_collection(
    transport: Transport,
    first: Page,
    *,
    convert: PageConverter = lambda records: records,
    reader: PageReader | None = None,
    limit: int | None = None,
    paginate: bool = True,
    progress: Progress = True,
    concurrency: int = 1,
    started: float | None = None,
    key: Sequence[str] | None = None,
    on_restart: Callable[[], None] | None = None,
) -> FetchResult:
    """All pages of a collection, starting from its first (already fetched) page.

    ``limit`` stops after that many rows; ``paginate=False`` keeps the first page only.
    With ``concurrency`` above 1 and an ``@odata.count`` on the first page, the remaining pages
    are fetched as concurrent ``$skip`` windows (ordered by ``key`` as a tie-breaker); otherwise
    ``@odata.nextLink`` is followed one page at a time. ``reader`` (when given) reads the pages
    after the first into Arrow, so ``convert`` must take :class:`ArrowPage` as well as lists.
    ``convert`` is called once per page, in order; when the data moves under a windowed fetch,
    ``on_restart`` is called and the fetch is repeated page by page, with a
    :class:`DataChangedWarning`. ``progress`` is a flag for a tqdm bar or a callable
    ``(rows, total)``.
    """
    started = time.monotonic() if started is None else started
    reporter = _Progress(progress, _total(first.count, limit))
    try:
        plan = None
        if paginate and concurrency > 1:
            plan = plan_windows(
                first.url, first.records, first.count, first.next_link, limit=limit, key=key
            )
        if plan is not None:
            result = FetchResult(url=first.url, odata_count=first.count)

            def deliver(records: Records) -> None:
                result.pages.append(convert(records))
                result.page_count += 1
                result.rows += len(records)

            try:
                reporter.update(len(first.records))
                deliver(first.records)
                fetch_windows(
                    transport,
                    plan,
                    first.records,
                    deliver=deliver,
                    arrived=reporter.update,
                    concurrency=concurrency,
                    reader=reader,
                )
                result.elapsed = time.monotonic() - started
                return result
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
            reporter.restart(_total(first.count, limit))
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
_NOT_USER_CODE = (__name__.rsplit(".", 1)[0], "IPython", "decorator", "traitlets")


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
    progress: Progress | _Progress,
    started: float,
    reader: PageReader | None = None,
) -> FetchResult:
    """Follow ``@odata.nextLink`` one page at a time until the last page or ``limit`` rows."""
    result = FetchResult(url=first.url, odata_count=first.count)
    seen = {first.url}
    own = not isinstance(progress, _Progress)
    bar = _Progress(progress, _total(first.count, limit)) if own else progress
    page = first
    try:
        while True:
            records = page.records
            if limit is not None and result.rows + len(records) > limit:
                records = records[: max(0, limit - result.rows)]
            result.pages.append(convert(records))
            result.page_count += 1
            result.rows += len(records)
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
    finally:
        if own:
            bar.close()
    result.elapsed = time.monotonic() - started
    return result


class _Progress:
    """Rows so far, shown as a tqdm bar (from the second page on) or passed to a callable."""

    def __init__(self, how: Progress, total: int | None) -> None:
        self.how = how
        self.total = total
        self.rows = 0
        self.bar: Any = None

    def update(self, rows: int) -> None:
        self.rows += rows
        if callable(self.how):
            self.how(self.rows, self.total)
            return
        if not self.how:
            return
        if self.bar is None:
            if self.rows == rows:
                return  # the first page: no bar for an answer that may be one page
            self.bar = _progress_bar(total=self.total, initial=self.rows - rows)
        self.bar.update(rows)

    def restart(self, total: int | None) -> None:
        """Start counting again (a fetch that starts over)."""
        self.total = total
        self.rows = 0
        if self.bar is not None:
            self.bar.reset(total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _total(count: int | None, limit: int | None) -> int | None:
    if count is None:
        return limit
    return min(count, limit) if limit is not None else count


def _progress_bar(total: int | None, initial: int) -> Any:
    from tqdm.auto import tqdm
    from tqdm.notebook import tqdm as notebook_tqdm

    options = {"total": total, "initial": initial, "unit": "rows", "desc": "elfsquad"}
    if not issubclass(tqdm, notebook_tqdm):
        return tqdm(leave=False, **options)
    # In a notebook the bar is shown through a display handle, so that closing it can blank
    # the output: otherwise a saved notebook keeps the bar's first state ("9% 500/5767") as
    # its plain-text fallback, which reads as an unfinished fetch where widgets don't render.
    from IPython.display import HTML, display

    bar = tqdm(display=False, leave=False, **options)
    handle = display(bar.container, display_id=True)
    close = bar.close

    def close_and_blank() -> None:
        close()
        if handle is not None:
            handle.update(HTML(""))

    bar.close = close_and_blank
    return bar
