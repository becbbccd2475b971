"""Reference semantics computed in plain Python, independent of the sandbox's SQL."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$"
)


def instant(text: str) -> datetime:
    """An ISO 8601 string as an aware UTC datetime (no offset = UTC), 100 ns ticks truncated."""
    m = _ISO.match(text)
    assert m, text
    y, mo, d, h, mi, s, frac, tz = m.groups()
    micro = int((frac or "0").ljust(6, "0")[:6])
    value = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=timezone.utc)
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
        try:
            value = value - sign * offset
        except OverflowError:
            value = datetime.min.replace(tzinfo=timezone.utc)
    return value


def sort_rows(rows: list[dict], keys: list[tuple[str, bool]], key_prop: str = "id") -> list[dict]:
    """Sort like SQL: nulls first ascending (last descending), then by key ascending."""
    out = sorted(rows, key=lambda r: r[key_prop])
    for name, descending in reversed(keys):
        out.sort(
            key=lambda r: (r[name] is not None, _comparable(name, r[name])), reverse=descending
        )
    return out


def _comparable(name: str, value: object) -> object:
    if value is None:
        return 0
    if name.endswith("Date") or name in ("deliverydate", "lastActivity"):
        return instant(value)  # type: ignore[arg-type]
    return value
