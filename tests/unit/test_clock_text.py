"""Every printed time carries its zone, whatever the machine's local zone is."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator

import pytest

from elfsquad_magic.core.auth import clock_text
from elfsquad_magic.notebook.session import format_expiry


@pytest.fixture
def zone(request: pytest.FixtureRequest) -> Iterator[None]:
    """This process in the time zone named by the test's parameter."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.mark.parametrize("zone", ["Europe/Amsterdam"], indirect=True)
def test_times_are_local_with_the_zone_named(zone) -> None:
    winter = dt.datetime(2026, 12, 1, 20, 0, tzinfo=dt.timezone.utc)
    summer = dt.datetime(2026, 7, 1, 20, 0, tzinfo=dt.timezone.utc)
    assert clock_text(winter) == "21:00 CET"
    assert clock_text(summer) == "22:00 CEST"
    assert format_expiry(winter) == "21:00 CET"  # what the magics print


@pytest.mark.parametrize("zone", ["Europe/Amsterdam"], indirect=True)
def test_a_naive_time_is_taken_as_utc(zone) -> None:
    assert clock_text(dt.datetime(2026, 12, 1, 20, 0)) == "21:00 CET"


@pytest.mark.parametrize("zone", ["UTC"], indirect=True)
def test_in_utc_the_zone_is_still_shown(zone) -> None:
    assert clock_text(dt.datetime(2026, 12, 1, 20, 0, tzinfo=dt.timezone.utc)) == "20:00 UTC"
