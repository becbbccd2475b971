"""Fetch every page of a collection: the ``@odata.nextLink`` walk, ``--limit``, progress.

:func:`fetch_collection` is the one entry point; it returns a :class:`FetchResult` whatever the
strategy, so a concurrent ``$skip``-window fetcher can sit beside the sequential walk without
changing callers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from .errors import ElfsquadError, IncompleteResultError, InsecureURLError, ResponseFormatError
from .transport import Params, Transport, parse_json_response

__all__ = ["FetchResult", "Page", "fetch_collection", "walk_next_links"]

Records = list[dict[str, Any]]
# Turns one page's records into whatever the caller keeps (a DataFrame, or the list itself).
PageConverter = Callable[[Records], Any]


@dataclass
class Page:
    """One response of a collection: its records and the link to the next one."""

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


def fetch_collection(
    transport: Transport,
    first: Page,
    *,
    convert: PageConverter = lambda records: records,
    limit: int | None = None,
    paginate: bool = True,
    progress: bool = True,
    concurrency: int = 1,
    started: float | None = None,
) -> FetchResult:
    """All pages of a collection, starting from its first (already fetched) page.

    ``limit`` stops after that many rows; ``paginate=False`` keeps the first page only.
    ``concurrency`` is accepted for the windowed fetcher; the walk here is sequential.
    """
    started = time.monotonic() if started is None else started
    return walk_next_links(
        transport,
        first,
        convert=convert,
        limit=limit,
        paginate=paginate,
        progress=progress,
        started=started,
    )


def walk_next_links(
    transport: Transport,
    first: Page,
    *,
    convert: PageConverter,
    limit: int | None,
    paginate: bool,
    progress: bool,
    started: float,
) -> FetchResult:
    """Follow ``@odata.nextLink`` one page at a time until the last page or ``limit`` rows."""
    result = FetchResult(url=first.url, odata_count=first.count)
    seen = {first.url}
    bar = None
    page = first
    try:
        while True:
            records = page.records
            if limit is not None and result.rows + len(records) > limit:
                records = records[: max(0, limit - result.rows)]
            result.pages.append(convert(records))
            result.page_count += 1
            result.rows += len(records)
            if bar is not None:
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
            if bar is None and progress:
                bar = _progress_bar(total=_total(first.count, limit), initial=result.rows)
            try:
                payload, response = transport.get_json(link)
                page = page_from_payload(response.url or link, payload)
                # Keep the link as sent: the seen-set compares what the service hands out.
                page.url = link
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
        if bar is not None:
            bar.close()
    result.elapsed = time.monotonic() - started
    return result


def _total(count: int | None, limit: int | None) -> int | None:
    if count is None:
        return limit
    return min(count, limit) if limit is not None else count


def _progress_bar(total: int | None, initial: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="rows", desc="elfsquad", leave=False)


def get_page(transport: Transport, url: str, params: Params = None) -> tuple[Page, Any]:
    """GET one collection page; returns the :class:`Page` and the raw response."""
    response = transport.request("GET", url, params=params)
    payload = parse_json_response(response, "GET")
    return page_from_payload(response.url, payload), response
