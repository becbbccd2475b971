"""What differs between two tenants' copies of one entity set: rows only in one, and the
properties that changed in the rows both have.

Rows are matched on a key that survives copying between tenants (``articleCode``; by default the
set's key, which copying seldom keeps: a message says so when no key is in both). The stamps and
ids a copy always changes are left out of the comparison unless asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from ..errors import UsageError
from .mirror import Mirror

__all__ = ["ALWAYS_DIFFERENT", "DiffSummary", "MirroredTenant", "diff_frames", "diff_tenants"]

ALWAYS_DIFFERENT = ("id", "createdDate", "updatedDate", "organizationId", "creatorId")
"""Properties a copy to another tenant always changes; left out unless matched on."""


@dataclass(frozen=True)
class DiffSummary:
    """The counts of a diff: rows in both, only in each, changed, and in how many properties."""

    entity_set: str
    first: str
    second: str
    both: int
    only_first: int
    only_second: int
    changed_rows: int
    changed_properties: int
    on: tuple[str, ...]
    note: str | None = None

    def __str__(self) -> str:
        line = (
            f"{self.entity_set}: {self.both:,} in both, {self.only_first:,} only in "
            f"{self.first}, {self.only_second:,} only in {self.second}, {self.changed_rows:,} "
            f"changed in {self.changed_properties:,} propert"
            f"{'y' if self.changed_properties == 1 else 'ies'}"
        )
        return f"{line}. {self.note}" if self.note else line


class MirroredTenant(Protocol):
    """What a diff needs of a tenant's client: its sets from the mirror, and its name."""

    connection: str | None

    @property
    def mirror(self) -> Mirror:
        """The tenant's mirror."""
        ...

    def sync(self, entity_set: str, *, offline: bool = False, output: str | None = None) -> Any:
        """The whole set from the mirror, brought up to date unless ``offline``."""
        ...


def diff_tenants(
    first: MirroredTenant,
    second: MirroredTenant,
    entity_set: str,
    *,
    on: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    offline: bool = False,
) -> tuple[pd.DataFrame, DiffSummary]:
    """The differences of ``entity_set`` between two tenants, each read from its mirror
    (synced first unless ``offline``); matched on ``on``, else the set's key."""
    left = first.sync(entity_set, offline=offline, output="pandas")
    right = second.sync(entity_set, offline=offline, output="pandas")
    name = left.attrs.get("elfsquad", {}).get("sync", {}).get("entity_set") or entity_set
    if not on:
        info = first.mirror.info(first.mirror.find(name) or name)
        on = list(info.key) if info is not None else ["id"]
    names = (first.connection or "first", second.connection or "second")
    if names[0] == names[1]:
        names = (f"{names[0]} (1)", f"{names[1]} (2)")
    return diff_frames(left, right, on=on, ignore=ignore, names=names, entity_set=name)


def diff_frames(
    first: pd.DataFrame,
    second: pd.DataFrame,
    *,
    on: Sequence[str],
    ignore: Sequence[str] = (),
    names: tuple[str, str] = ("first", "second"),
    entity_set: str = "",
) -> tuple[pd.DataFrame, DiffSummary]:
    """One row per difference: ``change`` (``only in <name>`` or ``changed``), the key
    columns, ``property`` and the two values (named after the tenants)."""
    on = list(on)
    for frame, name in ((first, names[0]), (second, names[1])):
        _check_key(frame, on, name, entity_set)
    left, right = _keyed(first, on), _keyed(second, on)
    both = left.index.intersection(right.index, sort=False)
    only_left = left.index.difference(right.index, sort=False)
    only_right = right.index.difference(left.index, sort=False)
    skipped = set(on) | set(ignore) | (set(ALWAYS_DIFFERENT) - set(on))
    compared = [c for c in left.columns if c in right.columns and c not in skipped]
    rows: list[dict[str, Any]] = []
    for index, side in ((only_left, names[0]), (only_right, names[1])):
        rows += [{"change": f"only in {side}", **_key_of(on, key)} for key in index]
    changed_keys: set[Any] = set()
    changed_columns: set[str] = set()
    a, b = left.loc[both, compared], right.loc[both, compared]
    for column in compared:
        for key, x, y in zip(both, a[column].tolist(), b[column].tolist(), strict=True):
            if not _same(x, y):
                changed_keys.add(key)
                changed_columns.add(column)
                row = {"change": "changed", **_key_of(on, key), "property": column}
                rows.append({**row, names[0]: x, names[1]: y})
    columns = ["change", *on, "property", names[0], names[1]]
    result = pd.DataFrame(rows, columns=columns)
    summary = DiffSummary(
        entity_set,
        names[0],
        names[1],
        len(both),
        len(only_left),
        len(only_right),
        len(changed_keys),
        len(changed_columns),
        tuple(on),
        _note(on, len(both), len(first), len(second)),
    )
    result.attrs["elfsquad"] = {"diff": summary.__dict__ | {"summary": str(summary)}}
    return result, summary


def _check_key(frame: pd.DataFrame, on: list[str], name: str, entity_set: str) -> None:
    missing = [c for c in on if c not in frame.columns]
    if missing:
        raise UsageError(
            f"{entity_set or 'The set'} of {name} has no property {', '.join(missing)} "
            "to match on.",
            f"Match on properties of the set (%elfsquad_describe {entity_set or 'SET'}).",
        )
    duplicated = frame.duplicated(subset=on, keep=False) & frame[on].notna().all(axis=1)
    if duplicated.any():
        raise UsageError(
            f"{', '.join(on)} is not unique in {name}'s {entity_set or 'rows'}: "
            f"{int(duplicated.sum()):,} rows share a value.",
            "Match on a key that is unique in both tenants (--on name,articleCode).",
        )


def _keyed(frame: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """``frame`` indexed by its key values (rows without them cannot be matched: left out)."""
    frame = frame[frame[on].notna().all(axis=1)]
    index = pd.MultiIndex.from_frame(frame[on]) if len(on) > 1 else pd.Index(frame[on[0]])
    return frame.set_axis(index, axis=0)


def _key_of(on: list[str], key: Any) -> dict[str, Any]:
    values = key if isinstance(key, tuple) else (key,)
    return dict(zip(on, values, strict=True))


def _missing(value: Any) -> bool:
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _same(x: Any, y: Any) -> bool:
    """Equal values, nulls (None, NaN, NaT, NA) equal to each other."""
    if _missing(x) or _missing(y):
        return _missing(x) and _missing(y)
    try:
        return bool(x == y)
    except (TypeError, ValueError):  # arrays and lists compare element-wise
        return list(x) == list(y)


def _note(on: list[str], both: int, first: int, second: int) -> str | None:
    if both or not first or not second:
        return None
    return (
        f"No {', '.join(on)} is in both tenants: ids differ between tenants; match on a key "
        "that survives copying (--on articleCode)."
    )
