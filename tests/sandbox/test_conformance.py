"""Read the sandbox as a user would, with plain ``requests``, and hammer it with bad input."""

from __future__ import annotations

import socket
from urllib.parse import urljoin

import pytest
import requests
from conftest import data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elfsquad_magic.sandbox import Sandbox
from elfsquad_magic.sandbox.seed import generate_tenant


def _user_fetch(base: str, client_id: str, secret: str, path: str) -> list[dict]:
    """What an analyst writes from the Elfsquad docs: token, then follow @odata.nextLink."""
    token = requests.post(
        f"{base}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "Elfskot.Api",
        },
        timeout=10,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    url, rows = f"{base}/{path}", []
    while url:
        page = requests.get(url, headers=headers, timeout=30)
        page.raise_for_status()
        doc = page.json()
        rows += doc["value"]
        url = doc.get("@odata.nextLink")
        url = urljoin(page.url, url) if url else None  # links may be relative elsewhere
    return rows


def test_plain_requests_loop_reads_lines_of_recent_quotations(sandbox) -> None:
    rows = _user_fetch(
        sandbox.url,
        sandbox.client_id,
        sandbox.client_secret,
        "data/1/quotationlines?$filter=unitPrice ge 100 and discountPct eq 0"
        "&$select=id,quotationId,quantity,unitPrice",
    )
    tenant = generate_tenant(1, 42)
    expected = {
        r["id"]: r
        for r in tenant["QuotationLines"]
        if r["unitPrice"] >= 100 and r["discountPct"] == 0
    }
    assert len(rows) == len(expected) > 500  # more than one page
    for row in rows:
        source = expected[row["id"]]
        assert data(row) == {k: source[k] for k in ("id", "quotationId", "quantity", "unitPrice")}


def test_quotation_totals_add_up_over_http(sandbox) -> None:
    quotations = _user_fetch(
        sandbox.url, sandbox.client_id, sandbox.client_secret, "data/1/Quotations"
    )
    lines = _user_fetch(
        sandbox.url, sandbox.client_id, sandbox.client_secret, "data/1/QuotationLines"
    )
    totals: dict[str, float] = {}
    for line in lines:
        amount = round(line["quantity"] * line["unitPrice"] * (1 - line["discountPct"] / 100), 2)
        totals[line["quotationId"]] = totals.get(line["quotationId"], 0.0) + amount
    assert set(totals) <= {q["id"] for q in quotations}
    # A quotation without lines (the seed has one) totals nothing.
    assert any(q["id"] not in totals for q in quotations)
    for q in quotations:
        assert q["totalPrice"] == pytest.approx(totals.get(q["id"], 0.0), abs=0.011)


FILTER_ALPHABET = st.sampled_from(
    [
        "name", "salesPrice", "createdDate", "id", "eq", "ne", "gt", " ", "'", "''", "(", ")",
        ",", "and", "or", "not", "contains(", "null", "1", "-2.5", "2024-01-01T00:00:00Z",
        "6f1c0a3e-1111-4222-8333-444455556666", "in", "/", "$", "%", "\\", "ü", "\x00", ";",
    ]
)  # fmt: skip


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(parts=st.lists(FILTER_ALPHABET, max_size=12))
def test_random_filters_never_crash_the_server(api, parts) -> None:
    reply = api("Features", params={"$filter": "".join(parts), "$top": "3"})
    assert reply.status_code in (200, 400), reply.text
    if reply.status_code == 400:
        assert reply.json()["error"]["message"]


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /data/1/Features(%ZZ) HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /data/1/Features?$filter=%FF%FE HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /data/1/Features HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"PATCH /data/1/Features HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n{{{",
        b"GARBAGE\r\n\r\n",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
    ],
)
def test_malformed_requests_get_an_answer_and_the_server_survives(sandbox, raw, api) -> None:
    host, port = sandbox.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        first = sock.recv(64)
    assert first  # an answer (HTTP/0.9-style HTML for a garbage request line), not a hang
    assert api("Vats").status_code == 200


def test_cli_parser_defaults_bind_loopback() -> None:
    from elfsquad_magic.sandbox.__main__ import build_parser

    args = build_parser().parse_args([])
    assert args.host == "127.0.0.1"
    assert build_parser().parse_args(["--port", "0", "--fault-rate", "0.1"]).fault_rate == 0.1


def test_cli_serves_and_prints_credentials() -> None:
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "elfsquad_magic.sandbox", "--port", "0", "--client-secret", "s3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert "serving at http://127.0.0.1:" in first
        url = first.split("serving at ")[1].split()[0]
        rows = _user_fetch(url, "demo-client", "s3", "data/1/Vats")
        assert len(rows) == 4
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_scale_20_has_100k_quotation_lines() -> None:
    tenant = generate_tenant(20, 1)
    assert len(tenant["QuotationLines"]) >= 100_000
    quotation_ids = {q["id"] for q in tenant["Quotations"]}
    assert all(line["quotationId"] in quotation_ids for line in tenant["QuotationLines"])


def test_generation_is_deterministic() -> None:
    assert generate_tenant(1, 5) == generate_tenant(1, 5)
    assert generate_tenant(1, 5)["Features"] != generate_tenant(1, 6)["Features"]


def test_relations_point_to_real_rows() -> None:
    t = generate_tenant(1, 3)
    ids = {name: {r.get("id") for r in rows} for name, rows in t.items()}
    for line in t["QuotationLines"]:
        assert line["quotationId"] in ids["Quotations"]
        assert line["featureId"] in ids["Features"]
    for q in t["Quotations"]:
        assert q["debtorId"] in ids["CrmAccounts"]
        assert q["statusId"] in ids["QuotationStatuses"]
        assert q["debtorContactId"] in ids["CrmContacts"]


def test_sandbox_rows_reads_the_store(sandbox: Sandbox) -> None:
    assert len(sandbox.rows("quotationlines")) == len(generate_tenant(1, 42)["QuotationLines"])
