"""Conversions between JSON values and the sortable forms the store filters and sorts on."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

__all__ = ["normalize_datetime", "EMPTY_DATE", "utc_now_text", "normalize_guid"]

_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


def normalize_datetime(text: str) -> str:
    """ISO 8601 text -> fixed-width UTC text that sorts like the instant (7 fraction digits, Z).

    Values without an offset are taken as UTC, as Elfsquad's own API does. Raises ``ValueError``.
    """
    # Fast paths for the forms the service itself writes; they are most of the data.
    if _plain_utc(text):
        size = len(text)
        if size == 28 and text[19] == "." and text[27] == "Z" and text[20:27].isdigit():
            return text
        if size == 20 and text[19] == "Z":
            return text[:19] + ".0000000Z"
        if size == 19:
            return text + ".0000000Z"
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
    return f"{_seconds_text(moment)}.{ticks:07d}Z"


def _plain_utc(text: str) -> bool:
    """``YYYY-MM-DDTHH:MM:SS`` prefix with plausible fields (no calendar check for speed)."""
    if len(text) < 19 or text[4] != "-" or text[7] != "-" or text[10] != "T":
        return False
    if text[13] != ":" or text[16] != ":":
        return False
    parts = (text[0:4], text[5:7], text[8:10], text[11:13], text[14:16], text[17:19])
    if not all(p.isdigit() and p.isascii() for p in parts):
        return False
    month, day, hour, minute, second = (int(p) for p in parts[1:])
    return 1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60


def _seconds_text(moment: datetime) -> str:
    # strftime("%Y") drops leading zeros for years below 1000 on glibc.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )


EMPTY_DATE = "0001-01-01T00:00:00Z"  # how the real service writes an unset non-nullable date


def utc_now_text(seconds_ago: float = 0.0) -> str:
    """The current time (or ``seconds_ago`` before it) as the real service writes it (7
    fractional digits, ``Z``)."""
    moment = datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)
    return f"{_seconds_text(moment)}.{moment.microsecond * 10:07d}Z"


def normalize_guid(text: str) -> str:
    """A guid in canonical lower-case form; raises ``ValueError``."""
    return str(uuid.UUID(str(text)))
