"""A new session starts from what the last one learned of the host's pace (kept in the user
cache: here the test's own folder), against the sandbox over HTTP."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clients import make_client

from elfsquad_magic.client import ElfsquadClient
from elfsquad_magic.fetch.pace_memory import PaceMemory
from elfsquad_magic.sandbox import Sandbox, TenantSpec


@pytest.fixture
def service():
    """QuotationLines in 50-row pages (over 100 pages) on a private sandbox."""
    with Sandbox(scale=1, seed=42, page_size=50) as sb:
        yield sb


def sandbox_client_of(sb: Sandbox, tenant: str) -> ElfsquadClient:
    """A client of another tenant of ``sb``, on the same host."""
    spec = sb.tenant(tenant)
    return ElfsquadClient(
        spec.client_id,
        spec.client_secret,
        login_url=sb.login_url,
        api_url=sb.api_url,
        progress=False,
    )


def pace_files() -> list[Path]:
    return list(Path(os.environ["ELFSQUAD_PACE_DIR"]).glob("*.json"))


def test_a_new_client_starts_at_the_window_the_last_one_found(service) -> None:
    service.configure(latency_ms=60)
    learning = make_client(service)
    learning.get("/data/1/QuotationLines", select="id")
    found = learning.pace.concurrency
    assert found > 4 and len(pace_files()) == 1
    new = make_client(service)
    assert new.pace.concurrency == found  # before any request: warm
    frame = new.get("/data/1/QuotationLines", select="id")
    assert len(frame) == len(service.rows("QuotationLines"))


def test_a_learned_rate_limit_is_remembered_by_a_new_client(service) -> None:
    """The new client paces itself at the learned rate from its first request. How many 429s
    it then meets is measured by benchmarks/bench_pace.py, not asserted here: on this token
    bucket the learning session sees bursts above the sustained rate, and on a loaded machine
    repeated runs gave 0 to 4 (the cold start 1 to 6)."""
    service.configure(latency_ms=20, rate_limit=40, retry_after=0.5)
    cold = make_client(service, retry_seconds=120)
    cold.get("/data/1/QuotationLines", select="id")
    learned = cold.pace.rate_per_second
    assert cold.pace.throttled >= 1 and learned is not None
    new = make_client(service, retry_seconds=120)
    assert new.pace.rate_per_second == pytest.approx(learned, rel=0.05)  # before any request
    frame = new.get("/data/1/QuotationLines", select="id")
    assert len(frame) == len(service.rows("QuotationLines"))


def test_another_tenants_client_on_the_host_starts_cold() -> None:
    """The service's budget is per connection: what one tenant's client learned is not
    another's, though both reach the same host; each keeps its own."""
    globex = TenantSpec("globex", "globex-client", seed=7)
    with Sandbox(scale=1, page_size=50, latency_ms=60, tenants=[globex]) as sb:
        learning = make_client(sb)
        learning.get("/data/1/QuotationLines", select="id")
        assert learning.pace.concurrency > 4
        other = sandbox_client_of(sb, "globex")
        assert other.pace.concurrency == 4  # cold: nothing learned for this client
        frame = other.get("/data/1/QuotationLines", select="id")
        assert len(frame) == len(sb.tenant("globex").rows("QuotationLines"))
        assert len(pace_files()) == 2
        assert make_client(sb).pace.concurrency == learning.pace.concurrency


def test_a_corrupt_memory_is_ignored_and_rewritten(service) -> None:
    memory = PaceMemory()
    path = memory.path(service.api_url, service.client_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"format": 1, "window": ')
    client = make_client(service)
    assert client.pace.concurrency == 4  # cold, without a word
    client.get("/data/1/QuotationLines", select="id")
    assert memory.load(service.api_url, service.client_id) is not None  # learned and kept


def test_a_fixed_concurrency_neither_reads_nor_writes_the_memory(service) -> None:
    make_client(service).get("/data/1/QuotationLines", select="id")
    before = [p.read_text() for p in pace_files()]
    client = make_client(service, concurrency=2)
    assert client.pace.concurrency == 2
    client.get("/data/1/QuotationLines", select="id")
    assert [p.read_text() for p in pace_files()] == before
