"""The OData and Elfsquad vocabulary, defined once: methods, query options, Edm type groups,
API roots and the default hosts.

Every other module imports these names instead of spelling them again, so that a method, an
option or a type group added here reaches the cell parser, the client, the fetcher, the frames
and the completion alike.
"""

from __future__ import annotations

__all__ = [
    "METHODS",
    "BODYLESS_METHODS",
    "SYSTEM_QUERY_OPTIONS",
    "COMPLETED_QUERY_OPTIONS",
    "KEYWORD_OPTIONS",
    "LIST_OPTIONS",
    "USER_PAGING_OPTIONS",
    "EDM_DATETIMES",
    "EDM_DATE",
    "EDM_FLOATS",
    "EDM_INTEGERS",
    "EDM_TEXTS",
    "DATA_ROOT",
    "ETAG",
    "QUOTATION_ROOT",
    "CONFIGURATOR_ROOT",
    "CONFIGURATOR_V3_ROOT",
    "API_ROOTS",
    "METADATA_PATH",
    "SCIM_ROOT",
    "SCIM_QUERY_OPTIONS",
    "ENV_SCIM_TOKEN",
    "is_scim_path",
    "DEFAULT_LOGIN_URL",
    "DEFAULT_API_URL",
    "DEFAULT_SCOPE",
    "is_json_content_type",
]

# -- requests -----------------------------------------------------------------------------------

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
"""The HTTP methods a request may use."""

BODYLESS_METHODS = frozenset({"GET", "DELETE"})
"""Methods that send no JSON body (their cell body holds query options, or nothing)."""

SYSTEM_QUERY_OPTIONS = frozenset(
    {
        "$filter",
        "$select",
        "$expand",
        "$orderby",
        "$top",
        "$skip",
        "$count",
        "$search",
        "$format",
        "$compute",
        "$apply",
        "$skiptoken",
        "$deltatoken",
        "$levels",
        "$index",
        "$schemaversion",
        "$id",
    }
)
"""OData v4 system query options; a ``$name`` outside this set is almost always a typo."""

COMPLETED_QUERY_OPTIONS = ("$filter", "$select", "$expand", "$orderby", "$top", "$skip", "$count")
"""The options tab completion offers, most used first."""

KEYWORD_OPTIONS = {
    "filter": "$filter",
    "select": "$select",
    "expand": "$expand",
    "orderby": "$orderby",
    "order_by": "$orderby",
    "top": "$top",
    "skip": "$skip",
    "count": "$count",
    "search": "$search",
    "apply": "$apply",
    "compute": "$compute",
}
"""``ElfsquadClient.get`` keywords and the system query option each one stands for."""

LIST_OPTIONS = frozenset({"$select", "$expand", "$orderby"})
"""Options whose value is a comma-separated list (a Python list is joined with commas)."""

USER_PAGING_OPTIONS = frozenset({"$top", "$skip", "$skiptoken", "$apply", "$count"})
"""Options after which the paging is the user's own: the fetcher plans no windows of its own."""

# -- Edm types ----------------------------------------------------------------------------------

EDM_DATETIMES = frozenset({"Edm.DateTimeOffset", "Edm.DateTime"})
"""Time stamps: UTC ``datetime64`` columns."""

EDM_DATE = "Edm.Date"
"""A calendar date: a naive ``datetime64`` column."""

EDM_FLOATS = frozenset({"Edm.Decimal", "Edm.Double", "Edm.Single"})
"""Numbers with a fraction: ``float64`` columns."""

EDM_INTEGERS = frozenset({"Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte", "Edm.SByte"})
"""Whole numbers: ``int64`` columns (``Int64`` next to nulls)."""

EDM_TEXTS = frozenset({"Edm.String", "Edm.Guid", "Edm.TimeOfDay", "Edm.Duration"})
"""Types kept as text."""

# -- APIs and hosts -----------------------------------------------------------------------------

DATA_ROOT = "/data/1/"
ETAG = "@odata.etag"
"""The annotation of a record's ETag (sent back as ``If-Match`` when it is written)."""
QUOTATION_ROOT = "/quotation/1/"
CONFIGURATOR_ROOT = "/configurator/1/"
CONFIGURATOR_V3_ROOT = "/configurator/3/"  # where Elfsquad's configurator library moved in 2026
SCIM_ROOT = "/scim/2/"
SCIM_QUERY_OPTIONS = frozenset(
    {"filter", "startindex", "count", "attributes", "excludedattributes", "sortby", "sortorder"}
)
"""The query options of a SCIM list (RFC 7644), lower case."""
API_ROOTS = (DATA_ROOT, QUOTATION_ROOT, CONFIGURATOR_ROOT, CONFIGURATOR_V3_ROOT, SCIM_ROOT)
"""The paths the Elfsquad APIs live under, on the API host."""

ENV_SCIM_TOKEN = "ELFSQUAD_SCIM_TOKEN"
"""The environment variable that holds the SCIM API's own bearer token."""


def is_scim_path(path: str) -> bool:
    """Whether a path on the API host belongs to the SCIM API (its own token, not OAuth)."""
    return path.lower().startswith(SCIM_ROOT) or path.lower().rstrip("/") == SCIM_ROOT[:-1]


METADATA_PATH = "/data/1/$metadata"
"""The Data API's CSDL schema."""

DEFAULT_LOGIN_URL = "https://login.elfsquad.io"
DEFAULT_API_URL = "https://api.elfsquad.io"
DEFAULT_SCOPE = "Elfskot.Api"


def is_json_content_type(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` header says JSON (``application/json``, ``...+json``)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")
