"""The settings of the magics: the traits of ``%config ElfsquadMagic.<name> = value``.

Hosts, scope, timeout, retries, keep_secret, the concurrency bounds and calls_per_minute take
effect at the next ``%elfsquad_login``; the result, progress, mirror and journal settings at the
next cell (the session hands them to the logged-in client when they change).
"""

from __future__ import annotations

from typing import Any

from traitlets import Bool, Enum, Float, Int, Unicode
from traitlets.config import Configurable

from ..core.odata import DEFAULT_API_URL, DEFAULT_LOGIN_URL, DEFAULT_SCOPE
from ..core.settings import DEFAULT_LOOKBACK, DEFAULT_MAX_CONCURRENCY, OUTPUTS

__all__ = ["MagicSettings", "LOGIN_SETTINGS", "CELL_SETTINGS"]

LOGIN_SETTINGS = (
    "timeout",
    "retry_seconds",
    "keep_secret",
    "concurrency",
    "max_concurrency",
    "calls_per_minute",
)
"""The client settings a login reads (a client is made with them)."""
CELL_SETTINGS = (
    "dtype_backend",
    "output",
    "progress",
    "mirror_dir",
    "sync_lookback",
    "journal_dir",
    "bulk_size",
)
"""The client settings the next cell uses: a change reaches the logged-in client at once."""


class MagicSettings(Configurable):
    """The settings of ``%config ElfsquadMagic``, one trait each, with their help."""

    login_url = Unicode(
        None,
        allow_none=True,
        help=f"Token host. Default: $ELFSQUAD_LOGIN_URL, else {DEFAULT_LOGIN_URL}. "
        "Used by the next %elfsquad_login.",
    ).tag(config=True)
    api_url = Unicode(
        None,
        allow_none=True,
        help=f"API host. Default: $ELFSQUAD_API_URL, else {DEFAULT_API_URL}. "
        "Used by the next %elfsquad_login.",
    ).tag(config=True)
    scope = Unicode(
        None,
        allow_none=True,
        help=f"OAuth scope. Default: $ELFSQUAD_SCOPE, else {DEFAULT_SCOPE}. "
        "Used by the next %elfsquad_login.",
    ).tag(config=True)
    timeout = Float(30.0, min=0.1, help="Seconds to wait for the server on each HTTP request.").tag(
        config=True
    )
    retry_seconds = Float(
        60.0,
        min=0.0,
        help="Total seconds a GET may spend retrying connection errors, 429 and 502/503/504.",
    ).tag(config=True)
    concurrency = Int(
        None,
        allow_none=True,
        min=1,
        help="Pages fetched at the same time when a collection has several pages. None (the "
        "default): found by itself for each API host, starting at 4, growing while the service "
        "keeps up and backing off when it queues or answers 429 (see max_concurrency). A "
        "number fixes it.",
    ).tag(config=True)
    max_concurrency = Int(
        DEFAULT_MAX_CONCURRENCY,
        min=1,
        help="The most pages fetched at the same time when the concurrency is found by itself.",
    ).tag(config=True)
    calls_per_minute = Int(
        None,
        allow_none=True,
        min=1,
        help="Upper bound on API calls per minute (None: no bound beyond the server's 429s).",
    ).tag(config=True)
    dtype_backend = Enum(
        [None, "numpy_nullable", "pyarrow"],
        default_value=None,
        allow_none=True,
        help='Column dtypes, as in pandas: None (NumPy), "numpy_nullable" or "pyarrow".',
    ).tag(config=True)
    output = Enum(
        list(OUTPUTS),
        default_value="pandas",
        help='What results are: "pandas" (a pandas DataFrame), "polars" (a polars DataFrame; '
        'pip install elfsquad-magic[polars]) or "arrow" (a pyarrow.Table). A cell\'s '
        "--output overrides it.",
    ).tag(config=True)
    progress = Bool(
        True, help="Show a progress bar when a collection spans more than one page."
    ).tag(config=True)
    keep_secret = Bool(
        True,
        help="Keep the client secret in the kernel's memory to renew the token when it expires; "
        "when False, log in again after expiry.",
    ).tag(config=True)
    mirror_dir = Unicode(
        None,
        allow_none=True,
        help="Folder of the local mirror (%elfsquad --sync, %%elfsquad_sql). Default: "
        "$ELFSQUAD_MIRROR_DIR, else the user cache folder. One folder per API host and client "
        "id inside, one Parquet file per entity set.",
    ).tag(config=True)
    sync_lookback = Float(
        DEFAULT_LOOKBACK,
        min=0.0,
        help="Seconds before the newest time stamp of a mirrored set from which a sync reads "
        "changed rows again: a change committed late (stamped before it became visible) is "
        "still found.",
    ).tag(config=True)
    journal_dir = Unicode(
        None,
        allow_none=True,
        help="Folder of the write journal (%elfsquad_journal, %elfsquad_undo). Default: "
        "$ELFSQUAD_JOURNAL_DIR, else the user data folder; one journal per API host and "
        "client id inside.",
    ).tag(config=True)
    bulk_size = Int(
        500,
        min=1,
        help="Records per request of a bulk action (--json df on .../BulkUpdate): the write "
        "goes in chunks of this size, with a progress bar.",
    ).tag(config=True)
    use_keyring = Bool(
        False,
        help="Read and store the client secret in the OS keyring (service 'elfsquad-magic'), "
        "as %elfsquad_login --keyring does.",
    ).tag(config=True)

    def client_settings(self) -> dict[str, Any]:
        """The client settings as they are now, by their flat names."""
        return {name: getattr(self, name) for name in (*LOGIN_SETTINGS, *CELL_SETTINGS)}
