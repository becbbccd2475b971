"""The next-link walk against the sandbox: page sizes, limits, ordering, counts, rate limits."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from clients import make_client

from elfsquad_magic.fetch.collection import fetch_collection
from elfsquad_magic.fetch.page import page_from_payload


def test_descending_order_pages_match_the_store(client, sandbox) -> None:
    rows = sandbox.rows("QuotationLines")
    expected = sorted(rows, key=lambda r: (-r["lineNumber"], r["id"]))
    frame = client.get("/data/1/quotationlines", orderby="lineNumber desc,id", select="id")
    assert frame["id"].tolist() == [r["id"] for r in expected]


def test_top_larger_than_a_page_is_paged(client, sandbox) -> None:
    frame = client.get("/data/1/quotationlines", top=1200, select="id")
    assert frame["id"].tolist() == [r["id"] for r in sandbox.rows("QuotationLines")[:1200]]
    assert frame.attrs["elfsquad"]["pages"] == 3


def test_count_is_reported_across_pages(client, sandbox) -> None:
    total = len(sandbox.rows("QuotationLines"))
    frame = client.get("/data/1/quotationlines", count=True, select="id")
    assert frame.attrs["elfsquad"]["count"] == total == len(frame)


def test_limit_on_a_page_boundary_fetches_no_further_page(client, sandbox) -> None:
    frame = client.get("/data/1/quotationlines", limit=500, select="id")
    assert len(frame) == 500 and frame.attrs["elfsquad"]["pages"] == 1


def test_expand_across_pages(client, sandbox) -> None:
    features = {f["id"]: f for f in sandbox.rows("Features")}
    frame = client.get(
        "/data/1/quotationlines", expand="feature($select=name)", select="id,featureId"
    )
    assert len(frame) == len(sandbox.rows("QuotationLines"))
    known = frame[frame["featureId"].isin(features)]
    got = known["feature.name"].astype(object).where(known["feature.name"].notna(), None)
    assert got.tolist() == [features[i]["name"] for i in known["featureId"]]


def test_small_pages_concatenate_to_the_whole_set(fresh_sandbox) -> None:
    fresh_sandbox.configure(page_size=7)
    frame = make_client(fresh_sandbox).get("/data/1/crmaccounts")
    expected = fresh_sandbox.rows("CrmAccounts")
    assert frame["id"].tolist() == [r["id"] for r in expected]
    assert frame.attrs["elfsquad"]["pages"] == -(-len(expected) // 7)


def test_fetch_collection_returns_converted_pages(client, sandbox) -> None:
    transport = client.engine.transport
    response = transport.request("GET", "/data/1/quotationlines", params=[("$select", "id")])
    first = page_from_payload(response.url, response.json())
    result = fetch_collection(transport, first, convert=len)
    total = len(sandbox.rows("QuotationLines"))
    assert sum(result.pages) == result.rows == total
    assert result.page_count == len(result.pages) and result.elapsed > 0


@pytest.mark.timing
def test_rate_limit_spaces_calls(sandbox) -> None:
    client = make_client(sandbox, calls_per_minute=600)  # one call per 0.1 s
    client.login()
    started = time.monotonic()
    for _ in range(4):
        client.get("/data/1/vats")
    assert time.monotonic() - started >= 0.3


def test_dataframe_body_is_sent_as_records(fresh_sandbox) -> None:
    import uuid

    client = make_client(fresh_sandbox)
    vat = fresh_sandbox.rows("Vats")[0]
    rows = pd.DataFrame(
        {
            "id": [str(uuid.uuid4()), str(uuid.uuid4())],
            "name": ["Bulk 'one'", "Bulk two"],
            "pct": [5.5, float("nan")],
        }
    )
    template = {k: v for k, v in vat.items() if k not in rows.columns}
    frame = pd.DataFrame([{**template, **r} for r in rows.to_dict("records")])
    client.post("/data/1/vats/Default.BulkInsert", json={"entities": frame})
    stored = {r["id"]: r for r in fresh_sandbox.rows("Vats")}
    assert stored[rows["id"][0]]["name"] == "Bulk 'one'"
    assert stored[rows["id"][1]]["pct"] is None
