"""The seed streamed into the store in chunks: the same values as the tenant built whole, and a
store loaded from the stream serves them.

The pinned hashes were computed from ``generate_tenant`` before the rows were streamed (when
the whole tenant was built in memory first): streaming must not change a single seeded value.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable
from typing import Any

import orjson
import pytest

from elfsquad_magic.sandbox.metadata import load_service
from elfsquad_magic.sandbox.seed import generate_tenant, stream_tenant
from elfsquad_magic.sandbox.seed_quotations import SALES_SETS
from elfsquad_magic.sandbox.store import Store

# sha256 over every set (by name) of the sha256 of its rows as orjson wrote them, one a line,
# in the order generated; measured on the code that built the tenant whole.
PINNED = {
    (1, 42): "022ce8ecd092e357899fbc708fd94a212b225820e71daad0a65fd71bd37fe5d8",
    (20, 42): "e1809b5d2a975f14f677e91a7a89b3697a3334f70e2819c2ce871d09bd0de6af",
}


def tenant_hash(chunks: Iterable[tuple[str, list[dict]]]) -> str:
    """The hash of a tenant given as (set, rows) chunks; each set's rows in order."""
    per_set: dict[str, Any] = {}
    for name, rows in chunks:
        digest = per_set.setdefault(name, hashlib.sha256())
        for row in rows:
            digest.update(orjson.dumps(row))
            digest.update(b"\n")
    for name in load_service().sets:
        per_set.setdefault(name, hashlib.sha256())  # sets without rows count too
    total = hashlib.sha256()
    for name in sorted(per_set):
        total.update(name.encode() + b":" + per_set[name].hexdigest().encode() + b"\n")
    return total.hexdigest()


def test_the_streamed_seed_at_scale_1_is_the_seed_built_whole() -> None:
    assert tenant_hash(stream_tenant(1, 42)) == PINNED[(1, 42)]
    assert tenant_hash(generate_tenant(1, 42).items()) == PINNED[(1, 42)]


@pytest.mark.slow
def test_the_streamed_seed_at_scale_20_is_the_seed_built_whole() -> None:
    assert tenant_hash(stream_tenant(20, 42, chunk_rows=7_000)) == PINNED[(20, 42)]


def test_small_chunks_change_nothing() -> None:
    chunks = list(stream_tenant(1, 42, chunk_rows=50))
    assert sum(1 for name, _ in chunks if name == "QuotationLines") > 10  # really streamed
    assert tenant_hash(chunks) == PINNED[(1, 42)]


def test_the_hash_sees_a_changed_value() -> None:
    tenant = generate_tenant(1, 42)
    tenant["QuotationLines"][5]["quantity"] += 1
    assert tenant_hash(tenant.items()) != PINNED[(1, 42)]


def test_a_store_loaded_from_the_stream_holds_the_whole_tenant() -> None:
    service = copy.deepcopy(load_service())
    store = Store(service)
    try:
        store.load_stream(stream_tenant(1, 42, chunk_rows=300))
        whole = generate_tenant(1, 42)
        for name in ("QuotationLines", "Quotations", "Organizations", "Features"):
            spec = service.sets[name]
            key = spec.key
            assert store.rows(spec) == sorted(whole[name], key=lambda row, k=key: row[k])
        # The indexes a sync's date filters need are there after a streamed load.
        indexed = store.indexed_properties(service.sets["QuotationLines"])
        assert {"createdDate", "updatedDate", "quotationId"} <= set(indexed)
    finally:
        store.close()


def test_a_set_is_indexed_once_its_rows_are_in_and_interleaved_sets_at_the_end() -> None:
    service = copy.deepcopy(load_service())
    store = Store(service)
    seen: dict[str, list[str]] = {}

    def watched(chunks):
        for name, rows in chunks:
            if name in SALES_SETS and not seen:  # the first quotations: products are all in
                for looked in ("Features", "FeatureModelNodes", "QuotationLines", "Quotations"):
                    seen[looked] = store.indexed_properties(service.sets[looked])
            yield name, rows

    try:
        store.load_stream(watched(stream_tenant(1, 42, chunk_rows=300)), interleaved=SALES_SETS)
        assert {"createdDate", "updatedDate"} <= set(seen["Features"])
        assert "featureId" in seen["FeatureModelNodes"]
        assert seen["QuotationLines"] == [] and seen["Quotations"] == []  # more chunks to come
        whole = generate_tenant(1, 42)
        for name in ("QuotationLines", "Quotations", "Features"):
            spec = service.sets[name]
            assert store.rows(spec) == sorted(whole[name], key=lambda row, k=spec.key: row[k])
            assert {"createdDate", "updatedDate"} <= set(store.indexed_properties(spec))
    finally:
        store.close()


def test_a_set_that_comes_again_after_its_indexes_still_refuses_a_duplicate_key() -> None:
    service = copy.deepcopy(load_service())
    store = Store(service)
    vats = generate_tenant(1, 42)["Vats"]
    try:
        with pytest.raises(KeyError):
            store.load_stream([("Vats", vats[:2]), ("Users", []), ("Vats", vats[1:])])
        assert len(store.rows(service.sets["Vats"])) == 2  # the chunk with the duplicate: out
    finally:
        store.close()
