"""The errors users see: short messages with a cause and a hint, never a library traceback.

Every failure a user can cause is raised as one of these, so "Run All" and papermill stop.
IPython shows ``_render_traceback_()`` instead of a traceback for them.

The tree::

    ElfsquadError
    ├── UsageError                 the magic line or cell is malformed
    │   └── InterpolationError     a {{name}} placeholder cannot be filled
    ├── NotLoggedInError
    ├── LoginError
    ├── InsecureURLError
    ├── ConnectionFailedError
    ├── ResponseFormatError
    ├── IncompleteResultError      a multi-page fetch failed part-way
    ├── MirrorError                the local mirror cannot be read or written as asked
    ├── JournalError               the write journal cannot be read, or has no such write
    ├── PartialWriteError          a bulk write stopped part-way: which records were applied
    └── ElfsquadHTTPError          an HTTP error status
        ├── BadRequestError        400
        ├── AuthenticationError    401
        ├── PermissionDeniedError  403
        ├── NotFoundError          404
        ├── ConflictError          412, or an undo of records changed since the write
        ├── RateLimitedError       429
        └── ServerError            5xx
    DataChangedWarning (a UserWarning): the data moved during a fetch, which was repeated
    FetchInterrupted (a KeyboardInterrupt): Ctrl-C during a fetch; nothing was returned
"""

from __future__ import annotations

import re
import sys

__all__ = [
    "ElfsquadError",
    "UsageError",
    "InterpolationError",
    "NotLoggedInError",
    "LoginError",
    "InsecureURLError",
    "ConnectionFailedError",
    "ResponseFormatError",
    "IncompleteResultError",
    "MirrorError",
    "JournalError",
    "PartialWriteError",
    "ConflictError",
    "ElfsquadHTTPError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitedError",
    "ServerError",
    "DataChangedWarning",
    "FetchInterrupted",
    "hint_for_scripts",
]

# Hints name the magics, which are at hand in a notebook; a script (no IPython shell running)
# reads the client's way of doing the same.
_SCRIPT_WORDING = (
    (r"%elfsquad_entities( --count)?", "client.schema().entity_sets"),
    (r"%elfsquad_describe (\w+)", r"client.schema().find('\1').properties"),
    (r"%elfsquad_login --demo", "a Sandbox() of elfsquad_magic.sandbox"),
    (r"%elfsquad_login --scim", "client.set_scim_token(...)"),
    (r"%elfsquad_logout --keyring", "keyring.delete_password('elfsquad-magic', client_id)"),
    (r"%elfsquad_login", "client.login() (or ElfsquadClient.from_env())"),
    (r"%elfsquad_mirror --drop (\w+)", r"client.mirror.drop('\1')"),
    (r"%elfsquad_mirror", "client.mirror.sets()"),
    (r"%elfsquad_journal", "client.journal.frame()"),
    (r"%elfsquad_undo (\S+)", r"client.undo('\1')"),
    (r"%elfsquad_undo", "client.undo()"),
    (r"%elfsquad --sync --full GET /data/1/(\w+)", r"client.sync('\1', full=True)"),
    (r"%elfsquad --sync( --\w+)* GET /data/1/(\w+)", r"client.sync('\2')"),
    (r"%%elfsquad_sql", "client.sql()"),
)


def hint_for_scripts(hint: str) -> str:
    """``hint`` with each magic it names replaced by the client call that does the same."""
    for pattern, wording in _SCRIPT_WORDING:
        hint = re.sub(pattern, wording, hint)
    return hint


def _in_a_notebook_or_shell() -> bool:
    """Whether an IPython shell runs here (a kernel or terminal IPython), where the magics are."""
    ipython = sys.modules.get("IPython")
    try:
        return ipython is not None and ipython.get_ipython() is not None
    except Exception:  # an IPython that cannot tell: assume the magics are at hand
        return True


class ElfsquadError(Exception):
    """Base of every error elfsquad-magic raises on purpose: a message plus an optional hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            hint = self.hint if _in_a_notebook_or_shell() else hint_for_scripts(self.hint)
            return f"{self.message}\nHint: {hint}"
        return self.message

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback from inside the library.
        return [
            f"\x1b[0;31m{type(self).__name__}\x1b[0m: {line}" if i == 0 else line
            for i, line in enumerate(str(self).splitlines())
        ]


class UsageError(ElfsquadError):
    """The magic line or cell is malformed (unknown method, missing path, bad JSON body...)."""


class InterpolationError(UsageError):
    """A ``{{name}}`` placeholder names no variable, or its value cannot be written there."""


class NotLoggedInError(ElfsquadError):
    """A request was made before logging in."""

    def __init__(self, message: str = "Not logged in to Elfsquad.", hint: str | None = None):
        super().__init__(
            message,
            hint or "Run %elfsquad_login (or %elfsquad_login --demo for the offline sandbox).",
        )


class LoginError(ElfsquadError):
    """The token endpoint refused the credentials or could not be reached."""


class InsecureURLError(ElfsquadError):
    """A URL would send credentials over plain http, or a token to a host other than the API's."""


class ConnectionFailedError(ElfsquadError):
    """The host could not be reached, or did not answer within the timeout."""


class ResponseFormatError(ElfsquadError):
    """The server answered, but not with what the request expects (HTML, empty body, ...)."""


class IncompleteResultError(ElfsquadError):
    """A multi-page fetch failed part-way; no partial frame is returned as if complete."""

    def __init__(self, message: str, hint: str | None = None, rows_fetched: int = 0) -> None:
        if "incomplete" not in f"{message} {hint or ''}".lower():
            # Whatever stopped the fetch, the user must read that nothing partial was kept.
            lead = f"The result is incomplete ({rows_fetched} rows fetched), so none was returned."
            hint = f"{lead} {hint}" if hint else f"{lead} Run the query again."
        super().__init__(message, hint)
        self.rows_fetched = rows_fetched


class MirrorError(ElfsquadError):
    """The local mirror cannot be used as asked (none yet offline, a file that cannot be read,
    another process holding its lock too long)."""


class JournalError(ElfsquadError):
    """The write journal cannot be read (a damaged line), or holds no such write to undo."""


class PartialWriteError(ElfsquadError):
    """A bulk write stopped part-way: ``applied`` records were written, ``not_applied`` were
    not, and the outcome of ``unknown`` ones (a cut connection) cannot be told."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        write_id: str | None = None,
        applied: list | None = None,
        not_applied: list | None = None,
        unknown: list | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.write_id = write_id
        self.applied = list(applied or [])
        self.not_applied = list(not_applied or [])
        self.unknown = list(unknown or [])


class ElfsquadHTTPError(ElfsquadError):
    """The service answered with an HTTP error status.

    The message names the status, the server's OData error message, the method and the URL,
    never a header.
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        status: int,
        method: str,
        url: str,
        server_message: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.method = method
        self.url = url
        self.server_message = server_message
        self.code = code


class BadRequestError(ElfsquadHTTPError):
    """400: the service rejected the query or body."""


class AuthenticationError(ElfsquadHTTPError):
    """401: the token was missing, wrong or expired and could not be renewed."""


class PermissionDeniedError(ElfsquadHTTPError):
    """403: the client lacks rights for this resource."""


class NotFoundError(ElfsquadHTTPError):
    """404: unknown entity set, key or path."""


class ConflictError(ElfsquadHTTPError):
    """The records changed since they were read: the service answered 412 to ``If-Match``,
    or an undo found them changed since the write it would revert (``records``)."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        records: list | None = None,
        status: int = 412,
        method: str = "",
        url: str = "",
        server_message: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(
            message,
            hint,
            status=status,
            method=method,
            url=url,
            server_message=server_message,
            code=code,
        )
        self.records = list(records or [])


class RateLimitedError(ElfsquadHTTPError):
    """429 after the retry budget: the service keeps throttling."""


class ServerError(ElfsquadHTTPError):
    """5xx after the retry budget."""


class FetchInterrupted(KeyboardInterrupt):
    """Ctrl-C (or the notebook's stop button) during a fetch: nothing was returned.

    A ``KeyboardInterrupt``, so the cell and "Run All" stop as for any interrupt; shown as one
    line instead of a traceback through the fetch's threads.
    """

    def __init__(self, rows: int) -> None:
        arrived = f"after {rows:,} rows had arrived" if rows else "before any rows arrived"
        self.rows = rows
        self.message = (
            f"Interrupted {arrived}: nothing was returned and no variable was changed. "
            "The session is fine; run the cell again to fetch it all."
        )
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self.message}"]


class DataChangedWarning(UserWarning):
    """Rows were added, removed or reordered while a multi-page fetch ran.

    The fetch is repeated page by page so the frame matches one consistent reading of the data.
    """
