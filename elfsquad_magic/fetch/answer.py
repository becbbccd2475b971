"""What one request brought back, as one value: the result, the status, and how it went."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.request import ODataRequest, strip_credentials

__all__ = ["Answer"]


@dataclass
class Answer:
    """The answer to one request: ``value`` (a DataFrame for data, the parsed JSON of a raw
    request, text or bytes of a document, ``None`` for no content), the HTTP status, the
    request as written and as sent, and the cost."""

    value: Any
    status: int
    reason: str
    request: ODataRequest
    """The request as the user wrote it (errors and ``df.attrs`` show this one)."""
    sent: ODataRequest
    """The request as sent: with the ``$count`` the engine added for concurrent pages."""
    api_url: str
    pages: int = 1
    count: int | None = None
    """The ``@odata.count`` the user asked for (one the engine added stays out of sight)."""
    elapsed: float = 0.0
    pace: dict[str, Any] | None = None
    """The pace of a collection fetch (concurrency reached, rate, 429s), else ``None``."""
    document: dict[str, Any] | None = None
    """The scalar members of a JSON document whose natural table is the value, else ``None``."""

    @property
    def status_line(self) -> str:
        """``"204 No Content"``: what a cell shows when there is no data."""
        return f"{self.status} {self.reason}".strip()

    @property
    def url(self) -> str:
        """The request as written, as a URL for people (no credentials, decoded)."""
        return strip_credentials(self.request.url(self.api_url))

    def attrs(self) -> dict[str, Any]:
        """``df.attrs["elfsquad"]``: url, pages, the count asked for, seconds (and the pace)."""
        attrs: dict[str, Any] = {
            "url": self.url,
            "pages": self.pages,
            "count": self.count,
            "elapsed": round(self.elapsed, 3),
        }
        if self.pace is not None:
            attrs["pace"] = self.pace
        if self.document is not None:
            attrs["document"] = self.document
        return attrs
