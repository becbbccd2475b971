"""Writes persist; bad writes are refused and leave the data unchanged."""

from __future__ import annotations

import uuid

import pytest
from conftest import session_for

from elfsquad_magic.sandbox import Sandbox

NEW_FEATURE = {"name": "Zadel 'Comfort', größe M", "salesPrice": 49.95, "tags": ["new"]}


def test_post_creates_and_returns_201_with_location(fresh_sandbox, fresh_api) -> None:
    before = len(fresh_sandbox.rows("Features"))
    reply = fresh_api("Features", method="POST", json=NEW_FEATURE)
    assert reply.status_code == 201
    created = reply.json()
    assert created["name"] == NEW_FEATURE["name"] and created["tags"] == ["new"]
    uuid.UUID(created["id"])
    assert reply.headers["Location"].endswith(f"/data/1/Features({created['id']})")
    assert len(fresh_sandbox.rows("features")) == before + 1
    fetched = fresh_api(f"Features({created['id']})").json()
    assert fetched["salesPrice"] == 49.95
    found = fresh_api("Features", params={"$filter": "name eq 'Zadel ''Comfort'', größe M'"})
    assert [r["id"] for r in found.json()["value"]] == [created["id"]]


def test_patch_merges_and_put_replaces(fresh_sandbox, fresh_api) -> None:
    row = fresh_sandbox.rows("Features")[0]
    reply = fresh_api(f"Features({row['id']})", method="PATCH", json={"salesPrice": -12.5})
    assert reply.status_code == 204
    after = fresh_api(f"Features({row['id']})").json()
    assert after["salesPrice"] == -12.5 and after["name"] == row["name"]
    reply = fresh_api(f"features/{row['id']}", method="PUT", json={"name": "Only name"})
    assert reply.status_code == 204
    after = fresh_api(f"Features({row['id']})").json()
    assert after["name"] == "Only name" and after["salesPrice"] is None
    assert after["createdDate"] == row["createdDate"]


def test_delete_removes_then_404(fresh_sandbox, fresh_api) -> None:
    row = fresh_sandbox.rows("Vats")[0]
    assert fresh_api(f"Vats({row['id']})", method="DELETE").status_code == 204
    assert fresh_api(f"Vats({row['id']})").status_code == 404
    assert fresh_api(f"Vats({row['id']})", method="DELETE").status_code == 404
    assert row["id"] not in {r["id"] for r in fresh_sandbox.rows("Vats")}


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("POST", {"bogus": 1}),
        ("POST", {"salesPrice": "cheap"}),
        ("POST", {"categoryId": "not-a-guid"}),
        ("POST", {"createdDate": "yesterday"}),
        ("POST", {"disallowDiscount": "yes"}),
        ("POST", ["not", "an", "object"]),
        ("POST", b"{not json"),
        ("PATCH", {"salesPrice": "cheap"}),
        ("PATCH", {"id": str(uuid.uuid4())}),
        ("PATCH", b""),
    ],
)
def test_bad_writes_are_400_and_change_nothing(fresh_sandbox, fresh_api, method, body) -> None:
    before = fresh_sandbox.rows("Features")
    path = "Features" if method == "POST" else f"Features({before[0]['id']})"
    kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
    reply = fresh_api(path, method=method, **kwargs)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["message"]
    assert fresh_sandbox.rows("Features") == before


def test_duplicate_key_is_409(fresh_sandbox, fresh_api) -> None:
    existing = fresh_sandbox.rows("Features")[0]["id"]
    reply = fresh_api("Features", method="POST", json={"id": existing, "name": "dup"})
    assert reply.status_code == 409


def test_patch_unknown_key_is_404(fresh_api) -> None:
    reply = fresh_api(f"Features({uuid.uuid4()})", method="PATCH", json={"name": "x"})
    assert reply.status_code == 404


def test_methods_not_allowed_are_405(fresh_sandbox, fresh_api) -> None:
    reply = fresh_api("Features", method="DELETE")
    assert reply.status_code == 405
    assert "GET" in reply.headers["Allow"]
    user = fresh_sandbox.rows("Users")[0]["id"]
    assert fresh_api(f"Users({user})", method="PATCH", json={"avatar": "x"}).status_code == 405
    assert fresh_api("Users", method="POST", json={}).status_code == 405


def test_bulk_actions(fresh_sandbox, fresh_api) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    entities = [{"id": i, "code": f"U{n}", "description": "bulk"} for n, i in enumerate(ids)]
    base = "UnitOfMeasurements/Default."
    reply = fresh_api(base + "BulkInsert", method="POST", json={"entities": entities})
    assert reply.status_code == 204
    assert {r["id"] for r in fresh_sandbox.rows("UnitOfMeasurements")} >= set(ids)
    update = {"entities": [{"id": ids[0], "description": "changed"}]}
    assert fresh_api(base + "BulkUpdate", method="POST", json=update).status_code == 204
    upsert = {"entities": [{"id": ids[1], "code": "X"}, {"code": "NEW", "description": None}]}
    assert fresh_api(base + "BulkUpsert", method="POST", json=upsert).status_code == 204
    rows = {r["id"]: r for r in fresh_sandbox.rows("UnitOfMeasurements")}
    assert rows[ids[0]]["description"] == "changed" and rows[ids[0]]["code"] == "U0"
    assert rows[ids[1]]["code"] == "X"
    assert any(r["code"] == "NEW" for r in rows.values())
    reply = fresh_api(base + "BulkDelete", method="POST", json={"identifiers": ids})
    assert reply.status_code == 204
    assert not set(ids) & {r["id"] for r in fresh_sandbox.rows("UnitOfMeasurements")}


def test_bulk_with_one_bad_entity_writes_nothing(fresh_sandbox, fresh_api) -> None:
    before = fresh_sandbox.rows("UnitOfMeasurements")
    entities = [{"code": "OK"}, {"code": "BAD", "bogus": True}]
    reply = fresh_api(
        "UnitOfMeasurements/Default.BulkInsert", method="POST", json={"entities": entities}
    )
    assert reply.status_code == 400
    missing = {"identifiers": [before[0]["id"], str(uuid.uuid4())]}
    reply = fresh_api("UnitOfMeasurements/Default.BulkDelete", method="POST", json=missing)
    assert reply.status_code == 404
    assert fresh_sandbox.rows("UnitOfMeasurements") == before


def test_db_file_keeps_data_across_restarts(tmp_path) -> None:
    db = str(tmp_path / "tenant.sqlite")
    with Sandbox(db=db) as first:
        session = session_for(first)
        reply = session.post(
            f"{first.url}/data/1/Vats", json={"name": "Kept", "pct": 7}, timeout=10
        )
        assert reply.status_code == 201
        count = len(first.rows("Vats"))
    with Sandbox(db=db, seed=99) as second:  # an existing file is not reseeded
        names = [r["name"] for r in second.rows("Vats")]
        assert len(names) == count and "Kept" in names


def _page_by_price(rows: list[dict], skip: int, top: int) -> list[str]:
    """Ids of ``$orderby=salesPrice desc,id`` rows skip..skip+top (SQL puts nulls last)."""
    priced = sorted((r for r in rows if r["salesPrice"] is not None), key=lambda r: r["id"])
    priced.sort(key=lambda r: r["salesPrice"], reverse=True)
    unpriced = sorted((r for r in rows if r["salesPrice"] is None), key=lambda r: r["id"])
    return [r["id"] for r in (priced + unpriced)[skip : skip + top]]


@pytest.mark.parametrize("change", ["POST", "PATCH", "DELETE"])
def test_later_pages_and_counts_follow_every_write(fresh_sandbox, fresh_api, change) -> None:
    # The store keeps a query's order and count between pages; a write must make it forget.
    params = {"$orderby": "salesPrice desc,id", "$top": "5", "$skip": "3", "$count": "true"}
    before = fresh_api("Features", params=params).json()
    assert fresh_api("Features", params=params).json() == before  # remembered: same answer
    rows = fresh_sandbox.rows("Features")
    assert [r["id"] for r in before["value"]] == _page_by_price(rows, 3, 5)
    top = _page_by_price(rows, 0, 1)[0]
    if change == "POST":
        reply = fresh_api("Features", method="POST", json={**NEW_FEATURE, "salesPrice": 1e9})
    elif change == "PATCH":
        last = _page_by_price(rows, len(rows) - 1, 1)[0]
        reply = fresh_api(f"Features({last})", method="PATCH", json={"salesPrice": 1e9})
    else:
        reply = fresh_api(f"Features({top})", method="DELETE")
    assert reply.status_code in (201, 204)
    after = fresh_api("Features", params=params).json()
    rows = fresh_sandbox.rows("Features")
    assert after["@odata.count"] == len(rows)
    assert [r["id"] for r in after["value"]] == _page_by_price(rows, 3, 5)
    assert after["value"] != before["value"]  # every change moved the page by one row


def test_remembered_order_follows_writes_by_another_connection(tmp_path) -> None:
    # Two sandboxes on one database file: a write through one shows in the other's pages.
    db = str(tmp_path / "tenant.sqlite")
    with Sandbox(scale=1, seed=3, db=db) as first, Sandbox(scale=1, seed=3, db=db) as second:
        params = {"$orderby": "name,id", "$top": "3", "$skip": "1", "$count": "true"}
        read = session_for(second)
        url = f"{second.url}/data/1/Vats"
        before = read.get(url, params=params, timeout=30).json()
        assert read.get(url, params=params, timeout=30).json() == before
        write = session_for(first)
        created = write.post(f"{first.url}/data/1/Vats", json={"name": "  first"}, timeout=30)
        assert created.status_code == 201, created.text
        after = read.get(url, params=params, timeout=30).json()
        assert after["@odata.count"] == before["@odata.count"] + 1
        # The new row sorts first, so the page after it starts one row earlier.
        names = sorted((r["name"], r["id"]) for r in second.rows("Vats"))
        assert [r["id"] for r in after["value"]] == [i for _, i in names[1:4]]
        assert after["value"][1:] == before["value"][:2]


def test_entities_carry_an_etag_that_changes_with_every_write(fresh_api) -> None:
    """As ASP.NET Core OData: a weak ``@odata.etag`` per entity, ``ETag`` on one entity, and
    412 for a write whose ``If-Match`` is not the current one."""
    first = fresh_api("Categories", params={"$top": "1"}).json()["value"][0]
    etag = first["@odata.etag"]
    assert etag.startswith('W/"') and etag.endswith('"')
    one = fresh_api(f"Categories({first['id']})")
    assert one.headers["ETag"] == etag == one.json()["@odata.etag"]
    stale = fresh_api(
        f"Categories({first['id']})",
        method="PATCH",
        json={"name": "renamed"},
        headers={"If-Match": 'W/"0000000000000000"'},
    )
    assert stale.status_code == 412, stale.text
    assert stale.json()["error"]["code"] == "PreconditionFailed"
    fresh = fresh_api(
        f"Categories({first['id']})",
        method="PATCH",
        json={"name": "renamed"},
        headers={"If-Match": etag},
    )
    assert fresh.status_code == 204
    changed = fresh_api(f"Categories({first['id']})").json()["@odata.etag"]
    assert changed != etag
    assert (
        fresh_api(
            f"Categories({first['id']})", method="DELETE", headers={"If-Match": etag}
        ).status_code
        == 412
    )
    assert (
        fresh_api(
            f"Categories({first['id']})", method="DELETE", headers={"If-Match": "*"}
        ).status_code
        == 204
    )
