"""Conversions between JSON values and the sortable forms the store filters and sorts on."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


def normalize_datetime(text: str) -> str:
    """ISO 8601 text -> fixed-width UTC text that sorts like the instant (7 fraction digits, Z).

    Values without an offset are taken as UTC, as Elfsquad's own API does. Raises ``ValueError``.
    """
    m = _DATETIME.match(text.strip())
    if not m:
        raise ValueError(f"not an ISO 8601 date-time: {text!r}")
    year, month, day, hour, minute, second, frac, tz = m.groups()
    moment = datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
    )
    ticks = int((frac or "0").ljust(7, "0")[:7])
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        try:
            moment = moment - sign * offset
        except OverflowError:
            moment = datetime.min if sign > 0 else datetime.max
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ticks:07d}Z"


def utc_now_text() -> str:
    """The current time as the real service writes it (7 fractional digits, ``Z``)."""
    now = datetime.now(timezone.utc)
    return f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond * 10:07d}Z"


def normalize_guid(text: str) -> str:
    """A guid in canonical lower-case form; raises ``ValueError``."""
    return str(uuid.UUID(str(text)))
