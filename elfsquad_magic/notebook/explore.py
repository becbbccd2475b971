"""What is in the tenant: the Data API's entity sets and their properties, as DataFrames.

Both listings come from the service's own ``$metadata`` (``client.schema()``, cached by the
client); ``--count`` adds one ``$count`` request per set, a few at a time.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..core.odata import DATA_ROOT
from ..core.request import ODataRequest
from ..core.schema import EntitySet, ServiceSchema
from ..errors import BadRequestError, ElfsquadError, NotFoundError, ResponseFormatError
from ..fetch import frames

if TYPE_CHECKING:
    from ..client import ElfsquadClient

__all__ = ["COUNT_CONCURRENCY", "dtype_for", "entities_frame", "describe_frame"]

COUNT_CONCURRENCY = 4
"""Count requests in flight at once: quick for 60-odd sets, gentle on a throttled tenant."""

# A JSON value of each Edm type, run through frames.py to learn the dtype its column gets.
_SAMPLE_VALUES: dict[str, Any] = {
    "Edm.String": "text",
    "Edm.Guid": "6f1c2c9e-7d2a-4c1b-9a53-0c5e3f6b8a01",
    "Edm.Boolean": True,
    "Edm.Byte": 1,
    "Edm.SByte": 1,
    "Edm.Int16": 1,
    "Edm.Int32": 1,
    "Edm.Int64": 1,
    "Edm.Decimal": 1.5,
    "Edm.Double": 1.5,
    "Edm.Single": 1.5,
    "Edm.DateTimeOffset": "2024-01-01T00:00:00Z",
    "Edm.DateTime": "2024-01-01T00:00:00",
    "Edm.Date": "2024-01-01",
    "Edm.TimeOfDay": "12:00:00",
    "Edm.Duration": "PT1H",
    "Edm.Binary": "AAEC",
}
_ENUM_SAMPLE = "Draft"  # enum types (Elfskot.*.QuotationStatus...) arrive as strings


@lru_cache(maxsize=256)
def dtype_for(
    edm_type: str, *, is_collection: bool = False, dtype_backend: str | None = None
) -> str:
    """The pandas dtype a column of ``edm_type`` gets in a frame (when it holds no nulls).

    Asked of frames.py itself so the two never disagree; with nulls, the default backend
    turns ``int64`` into ``Int64`` and ``bool`` into ``boolean``.
    """
    if is_collection or edm_type in ("Edm.Untyped", "Edm.Stream"):
        return "object"  # lists and free-form JSON stay Python objects
    if edm_type.startswith("Edm."):
        if edm_type not in _SAMPLE_VALUES:
            return "object"
        sample = _SAMPLE_VALUES[edm_type]
    else:
        sample = _ENUM_SAMPLE
    frame = frames.to_frame([{"value": sample}], {"value": edm_type}, dtype_backend)
    return str(frame["value"].dtype)


def _schema(client: ElfsquadClient) -> ServiceSchema:
    schema = client.schema()
    if not isinstance(schema, ServiceSchema):  # pragma: no cover - a client contract breach
        raise ResponseFormatError("The Data API's $metadata could not be read.")
    return schema


def entities_frame(client: ElfsquadClient, *, count: bool = False) -> pd.DataFrame:
    """One row per entity set: name, key, number of properties, navigation properties.

    ``count=True`` adds ``rows``, each set's row count from ``$count`` (``<NA>`` for a set
    that does not answer one).
    """
    schema = _schema(client)
    sets = sorted(schema.entity_sets.values(), key=lambda s: s.name.lower())
    frame = pd.DataFrame(
        {
            "name": [s.name for s in sets],
            "key": [", ".join(s.key) for s in sets],
            "properties": pd.array([len(s.properties) for s in sets], dtype="int64"),
            "navigation": [", ".join(s.navigation) for s in sets],
        }
    )
    if count:
        frame["rows"] = pd.array(_row_counts(client, [s.name for s in sets]), dtype="Int64")
    return frame


def _row_counts(client: ElfsquadClient, names: list[str]) -> list[int | None]:
    if not names:
        return []
    pool = ThreadPoolExecutor(max_workers=min(COUNT_CONCURRENCY, len(names)))
    try:
        futures = [pool.submit(_row_count, client, name) for name in names]
        # The first failure (401, connection lost...) is raised; the queued counts are dropped.
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _row_count(client: ElfsquadClient, name: str) -> int | None:
    """``GET /data/1/<Set>/$count``; None when the set does not support counting."""
    try:
        answer = client.request(
            "GET", f"/data/1/{name}/$count", raw=True, paginate=False, progress=False
        )
    except (NotFoundError, BadRequestError):
        return None
    return _as_count(answer)


def _as_count(answer: Any) -> int | None:
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int):
        return answer
    if isinstance(answer, bytes):
        answer = answer.decode("utf-8", "replace")
    if isinstance(answer, str):
        text = answer.strip().lstrip("\ufeff")
        return int(text) if text.isdigit() else None
    if isinstance(answer, dict) and isinstance(answer.get("@odata.count"), int):
        return answer["@odata.count"]
    return None


def describe_frame(client: ElfsquadClient, entity_set: str) -> pd.DataFrame:
    """One row per property of ``entity_set`` (any casing), navigation properties last.

    Columns: name, edm_type, dtype (the pandas dtype it becomes), nullable, key, target (the
    set a navigation property leads to, for ``$expand``) and note (the property's description),
    the last two only when some row has one.
    """
    schema = _schema(client)
    found = schema.find(_set_name(entity_set))
    if found is None:
        raise _unknown_set(client, schema, entity_set)
    backend = getattr(client, "dtype_backend", None)
    return _properties_frame(found, backend if backend in frames.DTYPE_BACKENDS else None)


def _set_name(text: str) -> str:
    """``quotations``, ``/data/1/quotations`` or ``Quotations(<key>)`` -> ``quotations``."""
    name = text.strip()
    marker = name.lower().find(DATA_ROOT)
    if marker >= 0:
        request = ODataRequest.build("GET", name[marker:])
        return request.entity_set or name[marker + len(DATA_ROOT) :]
    return re.split(r"[/(?]", name, maxsplit=1)[0]


def _properties_frame(entity_set: EntitySet, dtype_backend: str | None) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for prop in entity_set.properties.values():
        rows.append(
            {
                "name": prop.name,
                "edm_type": f"Collection({prop.edm_type})" if prop.is_collection else prop.edm_type,
                "dtype": dtype_for(
                    prop.edm_type, is_collection=prop.is_collection, dtype_backend=dtype_backend
                ),
                "nullable": prop.nullable,
                "key": prop.name in entity_set.key,
                "target": None,
                "note": prop.description,
            }
        )
    for nav in entity_set.navigation.values():
        rows.append(
            {
                "name": nav.name,
                "edm_type": f"Collection({nav.target_type})"
                if nav.is_collection
                else nav.target_type,
                # An expanded navigation property arrives as nested JSON objects.
                "dtype": "object",
                "nullable": True,
                "key": False,
                "target": nav.target_set,
                "note": None,
            }
        )
    columns = ["name", "edm_type", "dtype", "nullable", "key", "target", "note"]
    # A column with nothing in it says nothing: target (no navigation), note (no description).
    columns = [c for c in columns if c not in ("target", "note") or any(r[c] for r in rows)]
    dtypes = {"nullable": bool, "key": bool, "target": object, "note": object}
    # Built column by column so that a missing target stays None (a str column would hold NaN).
    return pd.DataFrame(
        {
            name: pd.Series([row[name] for row in rows], dtype=dtypes.get(name), name=name)
            for name in columns
        },
        columns=columns,
    )


def _unknown_set(client: ElfsquadClient, schema: ServiceSchema, name: str) -> ElfsquadError:
    matches = schema.close_matches(name)
    hint = (
        f"Did you mean {', '.join(matches)}?"
        if matches
        else "Run %elfsquad_entities to list the entity sets."
    )
    api_url = str(getattr(client, "api_url", "")).rstrip("/")
    return NotFoundError(
        f"There is no entity set named {name!r} in the Data API.",
        hint,
        status=404,
        method="GET",
        url=f"{api_url}/data/1/$metadata",
    )
