"""Paging like Elfsquad, addressing (case-insensitive sets, single entities)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
from conftest import fetch_all, session_for
from sandbox_expected import sort_rows

from elfsquad_magic.sandbox import Sandbox


def _pages(sb: Sandbox, url: str, headers: dict | None = None) -> list[dict]:
    session = session_for(sb)
    pages = []
    while url:
        doc = session.get(url, headers=headers or {}, timeout=30).json()
        pages.append(doc)
        url = doc.get("@odata.nextLink")
    return pages


def test_pages_concatenate_to_the_whole_set_without_duplicates(sandbox, tenant) -> None:
    pages = _pages(sandbox, f"{sandbox.url}/data/1/QuotationLines")
    rows = [r for p in pages for r in p["value"]]
    assert all(len(p["value"]) == 500 for p in pages[:-1])
    assert 0 < len(pages[-1]["value"]) <= 500
    assert "@odata.nextLink" not in pages[-1]
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == len(tenant["QuotationLines"])
    assert ids == sorted(r["id"] for r in tenant["QuotationLines"])  # stable order by key


def test_next_link_is_absolute_and_carries_skip(sandbox) -> None:
    pages = _pages(sandbox, f"{sandbox.url}/data/1/QuotationLines?$filter=quantity gt 0")
    link = pages[0]["@odata.nextLink"]
    assert link.startswith(f"{sandbox.url}/data/1/QuotationLines?")
    query = parse_qs(urlsplit(link).query)
    assert query["$skip"] == ["500"]
    assert query["$filter"] == ["quantity gt 0"]


def test_prefer_maxpagesize_lowers_the_page(sandbox, tenant) -> None:
    pages = _pages(
        sandbox, f"{sandbox.url}/data/1/Features", headers={"Prefer": "odata.maxpagesize=150"}
    )
    assert [len(p["value"]) for p in pages] == [150, 150, 100]


def test_top_beyond_a_page_is_paged_up_to_top(sandbox, tenant) -> None:
    pages = _pages(sandbox, f"{sandbox.url}/data/1/QuotationLines?$top=1200&$skip=10")
    assert [len(p["value"]) for p in pages] == [500, 500, 200]
    ids = [r["id"] for p in pages for r in p["value"]]
    assert ids == sorted(r["id"] for r in tenant["QuotationLines"])[10:1210]


def test_filtered_ordered_pages_equal_the_python_result(api, tenant) -> None:
    got = fetch_all(
        api, "quotationlines", **{"$filter": "discountPct gt 0", "$orderby": "unitPrice desc"}
    )
    expected = sort_rows(
        [r for r in tenant["QuotationLines"] if r["discountPct"] > 0], [("unitPrice", True)]
    )
    assert [r["id"] for r in got] == [r["id"] for r in expected]


def test_page_size_setting_applies_live(fresh_sandbox) -> None:
    fresh_sandbox.configure(page_size=1000)
    pages = _pages(fresh_sandbox, f"{fresh_sandbox.url}/data/1/QuotationLines")
    assert len(pages[0]["value"]) == 1000


def test_entity_set_names_are_case_insensitive(api) -> None:
    first = api("Features", params={"$top": "5"}).json()["value"]
    for name in ("features", "FEATURES", "fEaTuReS"):
        assert api(name, params={"$top": "5"}).json()["value"] == first


def test_single_entity_by_key_in_both_forms(api, tenant) -> None:
    quotation = tenant["Quotations"][3]
    for path in (f"Quotations({quotation['id']})", f"quotations/{quotation['id']}"):
        reply = api(path)
        assert reply.status_code == 200
        doc = reply.json()
        assert "value" not in doc
        assert {k: v for k, v in doc.items() if not k.startswith("@")} == quotation
    reply = api(f"Quotations({quotation['id']})", params={"$select": "subject,totalPrice"})
    assert {k for k in reply.json() if not k.startswith("@")} == {"subject", "totalPrice"}


def test_string_keys_address_countries(api) -> None:
    assert api("Countries('NL')").json()["englishName"] == "Netherlands"
    assert api("countries/DE").json()["englishName"] == "Germany"


def test_unknown_set_or_key_is_404(api) -> None:
    reply = api("NoSuchThings")
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "NotFound"
    reply = api("Features(00000000-0000-4000-8000-000000000000)")
    assert reply.status_code == 404
    assert api("Features(not-a-guid)").status_code == 400


def test_unseeded_sets_exist_and_are_empty(api) -> None:
    doc = api("CameraPositions").json()
    assert doc["value"] == []
    assert "@odata.nextLink" not in doc


def test_service_document_lists_every_set(api) -> None:
    names = {s["name"] for s in api("").json()["value"]}
    assert {"Features", "QuotationLines", "Countries"} <= names


def test_server_keeps_connections_alive(sandbox) -> None:
    import http.client

    token = session_for(sandbox).headers["Authorization"]
    host, port = sandbox.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/data/1/Vats", headers={"Authorization": token})
    first_socket = conn.sock
    for _ in range(5):
        reply = conn.getresponse()
        body = reply.read()
        assert reply.status == 200
        assert int(reply.headers["Content-Length"]) == len(body)
        assert not reply.will_close
        conn.request("GET", "/data/1/Vats", headers={"Authorization": token})
        assert conn.sock is first_socket
    conn.getresponse().read()
    conn.close()


def test_concurrent_clients_are_served(sandbox) -> None:
    from concurrent.futures import ThreadPoolExecutor

    session = session_for(sandbox)
    token = session.headers["Authorization"]

    def fetch(skip: int) -> int:
        reply = requests.get(
            f"{sandbox.url}/data/1/QuotationLines?$skip={skip}&$top=100",
            headers={"Authorization": token},
            timeout=30,
        )
        return len(reply.json()["value"])

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(fetch, range(0, 800, 100))) == [100] * 8
