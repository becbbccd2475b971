"""Service profiles: a capacity that queues requests, a rate limit that answers 429."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from conftest import session_for

from elfsquad_magic.sandbox import Sandbox, TenantSpec

pytestmark = pytest.mark.timing


def test_requests_beyond_the_capacity_wait_in_a_queue() -> None:
    with Sandbox(latency_ms=100, max_concurrent=2) as sb:
        session = session_for(sb)
        url = f"{sb.url}/data/1/vats"
        session.get(url, timeout=10)  # warm: the token and the connection
        started = time.monotonic()
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: session.get(url, timeout=10), range(6)))
        elapsed = time.monotonic() - started
        assert all(a.status_code == 200 for a in answers)
        assert elapsed >= 0.29  # 6 requests, 2 at a time, 100 ms each: three rounds
        sb.configure(max_concurrent=0)  # no capacity limit
        started = time.monotonic()
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda _: session.get(url, timeout=10), range(6)))
        assert time.monotonic() - started < 0.25


def test_calls_beyond_the_rate_are_answered_429_with_whole_seconds() -> None:
    with Sandbox(rate_limit=5) as sb:
        session = session_for(sb)
        answers = [session.get(f"{sb.url}/data/1/vats", timeout=10) for _ in range(12)]
        statuses = [a.status_code for a in answers]
        assert statuses[:5] == [200] * 5  # the bucket holds one second of calls
        limited = [a for a in answers if a.status_code == 429]
        assert limited and all(a.headers["Retry-After"].isdigit() for a in limited)
        assert all(int(a.headers["Retry-After"]) >= 1 for a in limited)
        assert sb.stats["rate_limited"] == len(limited)
        time.sleep(1.0)
        assert session.get(f"{sb.url}/data/1/vats", timeout=10).status_code == 200


def test_each_tenant_has_its_own_rate() -> None:
    """One client using up its calls leaves another tenant's calls alone (the published
    figure is per connection); the calls of each are counted apart."""
    globex = TenantSpec("globex", "globex-client", seed=7)
    with Sandbox(rate_limit=4, tenants=[globex]) as sb:
        busy = session_for(sb)
        other = requests.Session()
        form = {
            "grant_type": "client_credentials",
            "client_id": globex.client_id,
            "client_secret": globex.client_secret,
            "scope": "Elfskot.Api",
        }
        token = requests.post(f"{sb.login_url}/oauth2/token", data=form, timeout=10).json()
        other.headers["Authorization"] = f"Bearer {token['access_token']}"
        url = f"{sb.url}/data/1/vats"
        first = [busy.get(url, timeout=10).status_code for _ in range(8)]
        assert first[:4] == [200] * 4 and 429 in first[4:]  # its bucket is empty
        # In the same second, the other tenant has its whole bucket, and only that.
        second = [other.get(url, timeout=10).status_code for _ in range(6)]
        assert second[:4] == [200] * 4 and 429 in second[4:]
