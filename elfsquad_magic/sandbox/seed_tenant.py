"""The seeded generator of a synthetic tenant, shared by every seeding step."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from .values import EMPTY_DATE

__all__ = ["Tenant"]


class Tenant:
    """The seeded generator of one tenant and the values every seeding step shares: guids,
    moments, stamps in the forms the service writes, audit fields, money."""

    def __init__(self, scale: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.scale = max(1, int(scale))
        self.base = datetime(2019, 1, 1)
        self.main_org = ""
        self.org_ids: list[str] = []
        self.user_ids: list[str] = []

    # Values -------------------------------------------------------------------------------
    def guid(self) -> str:
        """A version-4 guid from the seeded generator."""
        # uuid.UUID is slow at 100k+ rows; this is the same shape.
        # A version-4 guid from the seeded generator (uuid.UUID is slow at 100k+ rows).
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"

    def moment(self, start_year: int = 2019, end_year: int = 2025) -> datetime:
        """A moment between the start of ``start_year`` and the end of ``end_year``."""
        start = datetime(start_year, 1, 1)
        span = (datetime(end_year, 12, 31) - start).total_seconds()
        return start + timedelta(seconds=self.rng.random() * span)

    def stamp(self, moment: datetime) -> str:
        """A date-time in one of the forms the real service sends."""
        roll = self.rng.random()
        m = moment
        text = m.isoformat(timespec="seconds")  # YYYY-MM-DDTHH:MM:SS (years 1000-9999)
        if roll < 0.6:
            return f"{text}.{m.microsecond * 10 + int(roll * 16) % 10:07d}Z"
        if roll < 0.8:
            return f"{text}Z"
        if roll < 0.9:
            # Local time with an offset: the same instant written an hour later.
            m = m + timedelta(hours=1)
            text = m.isoformat(timespec="seconds")
            return f"{text}.{m.microsecond // 1000:03d}+01:00"
        return text  # no offset at all

    def audit(self, org_id: str, creator: str | None) -> dict:
        """The audit fields every row carries (id, stamps, organization, creator)."""
        created = self.moment()
        updated = created + timedelta(days=self.rng.random() * 200)
        return {
            "id": self.guid(),
            "createdDate": self.stamp(created),
            "updatedDate": self.stamp(updated) if self.rng.random() < 0.9 else EMPTY_DATE,
            "organizationId": org_id,
            "creatorId": creator,
            "reference": None,
        }

    def audited(self, org: str | None = None) -> dict:
        """Audit fields of a row created by a random user of ``org`` (default: the tenant)."""
        creator = self.rng.choice(self.user_ids)
        return self.audit(org or self.main_org, creator)

    def money(self, low: float, high: float) -> float:
        """An amount between ``low`` and ``high``, to the cent."""
        return round(self.rng.uniform(low, high), 2)
