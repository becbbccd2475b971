"""The request methods of a client, over its one entry ``fetch(request, options)``: a request
value (``send``), or its parts (``request``), and the HTTP verbs (``get`` with ``filter=``,
``select=``...).
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from ..core.request import ODataRequest, Params, keyword_options, request_body
from ..errors import UsageError
from .answer import Answer
from .options import FetchOptions
from .progress import ProgressSpec

__all__ = ["RequestMethods"]


class RequestMethods:
    """``send``, ``request``, ``get``, ``post``, ``patch``, ``put`` and ``delete``, for a class
    whose ``fetch`` sends a request value and returns its :class:`.Answer`."""

    def fetch(self, request: ODataRequest, options: FetchOptions | None = None) -> Answer:
        """Send a request value and return its whole answer."""
        raise NotImplementedError

    def send(self, request: ODataRequest, **options: Any) -> pd.DataFrame | Any | None:
        """Send a request value and return its result (as :meth:`request` does); ``options``
        are those of :class:`.FetchOptions` (``limit``, ``raw``, ``progress``...)."""
        return self.fetch(request, FetchOptions(**options)).value

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json: Any = None,
        file: str | os.PathLike[str] | None = None,
        limit: int | None = None,
        paginate: bool = True,
        raw: bool = False,
        progress: ProgressSpec | None = None,
        concurrency: int | None = None,
        output: str | None = None,
    ) -> pd.DataFrame | Any | None:
        """Send a request; a collection comes back as one DataFrame with all its pages.

        A single entity is a one-row frame, 204 gives ``None``, ``raw=True`` the parsed JSON
        (or text/bytes for other answers). ``file`` uploads a local file as
        ``multipart/form-data`` (the Quotation API's ``addfile``). ``output`` makes the result
        a polars frame (``"polars"``) or a ``pyarrow.Table`` (``"arrow"``) instead of the
        ``output`` setting's type. ``df.attrs["elfsquad"]`` (a table's schema metadata,
        ``last_info``) holds url, pages, count, elapsed seconds and the pace.
        """
        upload = os.fspath(file) if file is not None else None
        request = ODataRequest.build(method, path, params, request_body(method, json), upload)
        options = FetchOptions(limit, paginate, raw, progress, concurrency, output=output)
        return self.fetch(request, options).value

    def get(self, path: str, **options: Any) -> pd.DataFrame:
        """GET ``path``; ``filter=``, ``select=``, ``orderby=``, ``top=``, ``expand=``... become
        ``$filter``...; ``limit``, ``paginate``, ``raw``, ``progress``, ``concurrency``,
        ``output``, ``params`` pass through to :meth:`request`."""
        passthrough = {
            k: options.pop(k)
            for k in ("limit", "paginate", "raw", "progress", "concurrency", "output")
            if k in options
        }
        extra = options.pop("params", None)
        params = keyword_options(options, extra)
        return self.request("GET", path, params=params, **passthrough)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        """POST ``json`` to ``path`` (create, or run an action)."""
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        """PATCH ``path`` with ``json`` (update some properties)."""
        return self.request("PATCH", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        """PUT ``json`` to ``path`` (replace)."""
        return self.request("PUT", path, json=json, **kwargs)

    def delete(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        """DELETE ``path``."""
        if json is not None:
            raise UsageError("DELETE sends no body.")
        return self.request("DELETE", path, **kwargs)
