"""SCIM 2 list answers (``Resources``, ``totalResults``, ``startIndex``, ``itemsPerPage``):
every page, asked by ``startIndex``, as one list of resources.

The SCIM API pages by position, not by links: the next page starts where the last one ended,
until ``totalResults`` resources have come (or a page comes back empty).
"""

from __future__ import annotations

from typing import Any

from ..core.request import ODataRequest
from ..core.transport import Transport
from ..errors import ElfsquadError, IncompleteResultError
from .page import parse_json_response

__all__ = ["is_list_response", "fetch_resources"]


def is_list_response(payload: Any) -> bool:
    """Whether ``payload`` is a SCIM ``ListResponse`` (a ``Resources`` list)."""
    return isinstance(payload, dict) and isinstance(payload.get("Resources"), list)


def fetch_resources(
    transport: Transport,
    request: ODataRequest,
    first: dict[str, Any],
    *,
    api_url: str,
    limit: int | None = None,
    paginate: bool = True,
) -> tuple[list[dict[str, Any]], int]:
    """The resources of ``first`` and of the pages after it; returns them and the page count.

    Raises :class:`IncompleteResultError` when a later page fails, so no partial list is
    taken for the whole.
    """
    resources: list[dict[str, Any]] = list(first["Resources"])
    total = first.get("totalResults")
    start = first.get("startIndex") if isinstance(first.get("startIndex"), int) else 1
    next_start = start + len(resources)
    pages = 1
    shown = request.url(api_url)
    while paginate and isinstance(total, int) and len(resources) < total:
        if limit is not None and len(resources) >= limit:
            break
        page_request = request.without_options("startIndex").with_options(
            ("startIndex", str(next_start))
        )
        try:
            response = transport.request("GET", page_request.url(api_url), shown=shown)
        except ElfsquadError as exc:
            raise IncompleteResultError(
                f"The SCIM list stopped after {len(resources)} of {total} resources: {exc.message}",
                exc.hint,
                rows_fetched=len(resources),
            ) from None
        payload = parse_json_response(response, "GET")
        page = payload.get("Resources") if isinstance(payload, dict) else None
        if not page:
            break  # the list shrank meanwhile: what came is all there is
        resources.extend(page)
        next_start += len(page)
        pages += 1
    if limit is not None:
        resources = resources[:limit]
    return resources, pages
