"""Large seeded tenants kept between starts: seeded once, then copied; the same rows either
way; off when asked, harmless when the cache cannot be written; no secret in the kept file."""

from __future__ import annotations

import pytest

from elfsquad_magic.sandbox import seed_cache, tenants
from elfsquad_magic.sandbox.tenants import Tenant, TenantSpec

SETS = ("QuotationLines", "Quotations", "FeatureModelNodes", "Features")


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch):
    """Scale 1 counts as large here, so it goes through the file and the cache."""
    monkeypatch.setattr(tenants, "MEMORY_MAX_SCALE", 0)


def snapshot(tenant: Tenant) -> dict[str, list[dict]]:
    return {name: tenant.store.rows(tenant.spec_of(name)) for name in SETS}


def start(seed: int = 5) -> Tenant:
    return Tenant(TenantSpec("default", "demo-client", scale=1, seed=seed), page_size=100)


def test_seeded_once_then_copied_with_the_same_rows(large, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, str(tmp_path))
    first = start()
    try:
        seeded = snapshot(first)
        secrets = (first.client_secret, first.scim_token)
    finally:
        first.close()
    kept = list(tmp_path.glob("tenant-1-5-*.db"))
    assert len(kept) == 1 and seed_cache.seed_fingerprint() in kept[0].name
    assert not list(tmp_path.glob(".partial-*"))
    data = kept[0].read_bytes()
    assert all(secret.encode() not in data for secret in secrets)

    def no_seeding(*args, **kwargs):
        raise AssertionError("seeded again although a kept copy exists")

    monkeypatch.setattr(tenants, "seed_store", no_seeding)
    second = start()
    try:
        assert snapshot(second) == seeded
    finally:
        second.close()
    # Another seed is another tenant: not taken from this file.
    monkeypatch.undo()
    monkeypatch.setattr(tenants, "MEMORY_MAX_SCALE", 0)
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, str(tmp_path))
    other = start(seed=6)
    try:
        assert snapshot(other)["Features"] != seeded["Features"]
    finally:
        other.close()


def test_off_keeps_nothing_and_a_broken_cache_still_starts(large, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, "off")
    tenant = start()
    tenant.close()
    assert seed_cache.cached_seed(1, 5) is None
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, str(blocker))
    tenant = start()
    try:
        assert tenant.store.rows(tenant.spec_of("QuotationLines"))
    finally:
        tenant.close()
    assert blocker.read_text().startswith("a file")


def test_a_copy_that_fails_leaves_an_empty_file_to_seed(tmp_path) -> None:
    target = tmp_path / "scratch.db"
    target.write_bytes(b"half a copy")
    assert not seed_cache.copy_seed(tmp_path / "gone.db", str(target))
    assert target.read_bytes() == b""  # the store then finds no tables and seeds
