"""Writes you can trust, against the sandbox over HTTP: dry runs and previews send nothing, the
journal holds every write's before-image, undo restores exactly, ETags stop stale writes, bulk
writes from DataFrames go in chunks and stop cleanly."""

from __future__ import annotations

import json
import stat
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clients import make_client
from leakcheck import secrets_of

from elfsquad_magic.client import ElfsquadClient
from elfsquad_magic.errors import (
    ConflictError,
    ConnectionFailedError,
    JournalError,
    PartialWriteError,
    UsageError,
)
from elfsquad_magic.sandbox import Sandbox

SERVICE_STAMPS = ("updatedDate",)  # set by the service on every write, an undo's too


@pytest.fixture
def sb() -> Sandbox:
    with Sandbox(scale=1, seed=21, page_size=200) as sandbox:
        yield sandbox


@pytest.fixture
def client(sb: Sandbox, tmp_path):
    c = make_client(sb, journal_dir=tmp_path / "journal", retry_seconds=2)
    c.login()
    return c


def stored(sb: Sandbox, entity_set: str) -> dict:
    return {r["id"]: r for r in sb.rows(entity_set)}


def without_stamps(rows: dict) -> dict:
    return {k: {p: v for p, v in r.items() if p not in SERVICE_STAMPS} for k, r in rows.items()}


def writes(sb: Sandbox) -> int:
    return sb.stats["api_writes"]


# -- dry run and preview -----------------------------------------------------------------------


def test_a_dry_run_shows_the_request_and_sends_nothing(sb, client) -> None:
    key = sb.rows("Features")[0]["id"]
    before = writes(sb)
    text = client.dry_run("PATCH", f"/data/1/features({key})", json={"salesPrice": 9.5})
    assert text.startswith("Dry run - nothing was sent: PATCH http://")
    assert f"/data/1/features({key})" in text and '"salesPrice": 9.5' in text
    assert "update of 1 Features record(s)" in text
    big = [{"id": r["id"], "salesPrice": 1.0, "name": "x" * 50} for r in sb.rows("Features")]
    text = client.dry_run("POST", "/data/1/features/BulkUpdate", json=big)
    assert f"BulkUpdate of {len(big):,} Features record(s)" in text
    assert "more characters" in text and len(text) < 3000
    assert writes(sb) == before
    assert client.journal.entries() == []


def test_a_preview_reads_and_shows_the_change_without_writing(sb, client) -> None:
    row = sb.rows("Features")[3]
    before = writes(sb)
    change = client.preview(
        "PATCH", f"/data/1/features({row['id']})", json={"salesPrice": 1.25, "name": row["name"]}
    )
    assert change.to_dict("records") == [
        {
            "change": "update",
            "key": row["id"],
            "property": "salesPrice",
            "before": row["salesPrice"],
            "after": 1.25,
        }
    ]
    gone = client.preview("DELETE", f"/data/1/features({row['id']})")
    assert set(gone["change"]) == {"delete"} and set(gone["property"]) >= {"name", "id"}
    keys = [r["id"] for r in sb.rows("Features")[:4]]
    bulk = client.preview("POST", "/data/1/features/Default.BulkDelete", json=keys)
    assert set(bulk["key"]) == set(keys)
    assert writes(sb) == before
    with pytest.raises(UsageError, match="--dry-run shows any request"):
        client.preview("PATCH", "/quotation/1/quotations/x", json={"a": 1})


# -- the journal and undo ----------------------------------------------------------------------


def test_undo_of_patch_restores_the_record(sb, client) -> None:
    key = sb.rows("Features")[0]["id"]
    original = without_stamps(stored(sb, "Features"))
    client.patch(f"/data/1/features({key})", json={"salesPrice": 0.5, "name": "changed"})
    assert stored(sb, "Features")[key]["name"] == "changed"
    entry = client.journal.entries()[-1]
    assert entry.outcome == "applied" and entry.before[0]["name"] == original[key]["name"]
    assert entry.after[0]["name"] == "changed"
    assert "Undid write" in client.undo()
    assert without_stamps(stored(sb, "Features")) == original
    assert client.journal.entries()[0].undone_by


def test_undo_of_put_delete_and_post(sb, client) -> None:
    original = without_stamps(stored(sb, "Categories"))
    first = sb.rows("Categories")[0]
    client.put(f"/data/1/categories({first['id']})", json={"name": "only a name"})
    client.undo()
    assert without_stamps(stored(sb, "Categories")) == original
    client.delete(f"/data/1/categories({first['id']})")
    assert first["id"] not in stored(sb, "Categories")
    client.undo()
    assert without_stamps(stored(sb, "Categories")) == original
    created = client.post("/data/1/categories", json={"name": "new one", "order": 3})
    assert created["id"].iloc[0] in stored(sb, "Categories")
    client.undo()
    assert without_stamps(stored(sb, "Categories")) == original


@pytest.mark.parametrize("action", ["BulkUpdate", "BulkUpsert", "BulkInsert", "BulkDelete"])
def test_undo_of_each_bulk_action_restores_the_set(sb, client, action) -> None:
    original = without_stamps(stored(sb, "QuotationLines"))
    lines = client.get("/data/1/quotationlines", top=700)
    if action == "BulkUpdate":
        body = lines[["id", "quantity"]].assign(quantity=lines["quantity"] * 2)
    elif action == "BulkUpsert":
        kept = lines[["id", "quantity", "description"]].head(300).assign(quantity=3.0)
        fresh = kept.head(5).assign(id=None, description="upserted")  # new keys filled in
        body = pd.concat([kept, fresh], ignore_index=True)
    elif action == "BulkInsert":
        body = lines.head(120).drop(columns=["id", "createdDate", "updatedDate"])
    else:
        body = lines[["id"]]
    client.bulk_size = 250
    client.post(f"/data/1/quotationlines/{action}", json=body)
    assert without_stamps(stored(sb, "QuotationLines")) != original
    entry = client.journal.entries()[-1]
    assert entry.outcome == "applied" and entry.kind == action
    client.undo()
    assert without_stamps(stored(sb, "QuotationLines")) == original


def test_undo_survives_a_kernel_restart(sb, client, tmp_path) -> None:
    key = sb.rows("Features")[1]["id"]
    original = without_stamps(stored(sb, "Features"))
    client.patch(f"/data/1/features({key})", json={"salesPrice": 3.0})
    client.close()
    restarted = make_client(sb, journal_dir=tmp_path / "journal")
    restarted.login()
    frame = restarted.journal.frame()
    assert list(frame["method"]) == ["PATCH"] and list(frame["outcome"]) == ["applied"]
    assert frame["records"].tolist() == [1] and not frame["undone"].any()
    restarted.undo()
    assert without_stamps(stored(sb, "Features")) == original
    assert restarted.journal.frame()["undone"].tolist() == [True, False]


def test_undo_is_refused_after_a_concurrent_change_unless_forced(sb, client) -> None:
    row = sb.rows("Features")[2]
    client.patch(f"/data/1/features({row['id']})", json={"salesPrice": 7.0})
    sb.commit_late("Features", row["id"], {"name": "someone else"}, 0)
    before = writes(sb)
    with pytest.raises(ConflictError, match="changed since") as caught:
        client.undo()
    assert caught.value.records == [row["id"]]
    assert writes(sb) == before
    preview = client.undo(preview=True)
    assert preview.to_dict("records")[0]["after"] == row["salesPrice"]
    assert "Undo of write" in client.undo(dry_run=True)
    client.undo(force=True)
    now = stored(sb, "Features")[row["id"]]
    assert now["salesPrice"] == row["salesPrice"] and now["name"] == "someone else"


def test_a_failing_chunk_stops_the_bulk_write_and_undo_reverts_the_part_applied(sb, client) -> None:
    original = without_stamps(stored(sb, "QuotationLines"))
    lines = client.get("/data/1/quotationlines", top=1000, select="id,quantity")
    body = lines.assign(quantity=lines["quantity"] + 1).astype(object)
    body.loc[650, "quantity"] = "not a number"  # in the third chunk of 250
    client.bulk_size = 250
    with pytest.raises(PartialWriteError, match="chunk 3 of 4") as caught:
        client.post("/data/1/quotationlines/Default.BulkUpdate", json=body)
    error = caught.value
    assert len(error.applied) == 500 and len(error.not_applied) == 500 and error.unknown == []
    assert "500 of 1,000 records were written, 500 not" in str(error)
    now = stored(sb, "QuotationLines")
    assert all(now[k]["quantity"] == original[k]["quantity"] + 1 for k in error.applied)
    assert all(now[k]["quantity"] == original[k]["quantity"] for k in error.not_applied)
    entry = client.journal.entries()[-1]
    assert entry.outcome == "partial" and len(entry.applied) == 500
    client.undo()
    assert without_stamps(stored(sb, "QuotationLines")) == original


def test_an_idempotent_chunk_is_sent_again_after_a_cut_connection(sb, client) -> None:
    lines = client.get("/data/1/quotationlines", top=600, select="id,quantity")
    client.bulk_size = 200
    sent = writes(sb)
    sb.configure(
        fault_rate=1.0, fault_after=1, fault_kinds=("cut",), fault_limit=1, fault_writes_only=True
    )
    client.post("/data/1/quotationlines/BulkUpdate", json=lines.assign(quantity=5.0))
    assert writes(sb) - sent == 4  # three chunks, the cut one twice
    now = stored(sb, "QuotationLines")
    assert all(now[k]["quantity"] == 5.0 for k in lines["id"])


def test_a_cut_insert_chunk_is_not_sent_again_and_is_reported_unknown(sb, client) -> None:
    lines = client.get("/data/1/quotationlines", top=300)
    body = lines.drop(columns=["id", "createdDate", "updatedDate"])
    client.bulk_size = 100
    sb.configure(
        fault_rate=1.0, fault_after=1, fault_kinds=("cut",), fault_limit=1, fault_writes_only=True
    )
    with pytest.raises(PartialWriteError, match="unknown") as caught:
        client.post("/data/1/quotationlines/BulkInsert", json=body)
    error = caught.value
    assert (len(error.applied), len(error.unknown), len(error.not_applied)) == (100, 100, 100)


def test_a_dataframe_becomes_the_bulk_body_with_nulls_and_utc_times(sb, client) -> None:
    lines = client.get("/data/1/quotationlines", top=3)[["id", "discountPct", "deliverydate"]]
    lines.loc[0, "discountPct"] = np.nan
    lines.loc[1, "deliverydate"] = pd.Timestamp("2026-01-02 03:04:05", tz="Europe/Amsterdam")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pandas warning reaches the user
        text = client.dry_run("POST", "/data/1/quotationlines/BulkUpdate", json=lines)
    body = json.loads(text.split("\n", 2)[2])
    assert body["entities"][0]["discountPct"] is None
    assert body["entities"][1]["deliverydate"] == "2026-01-02T02:04:05Z"
    ids = client.dry_run("POST", "/data/1/quotationlines/BulkDelete", json=lines)
    assert json.loads(ids.split("\n", 2)[2]) == {"identifiers": lines["id"].tolist()}


# -- ETags ---------------------------------------------------------------------------------------


def test_entities_carry_etags_and_a_stale_if_match_gets_412(sb, client) -> None:
    frame = client.get("/data/1/features", top=2)
    assert "@odata.etag" not in frame.columns  # remembered, not shown
    key = frame["id"].iloc[0]
    assert client.etags.get("Features", key)
    sb.commit_late("Features", key, {"name": "changed by another user"}, 0)
    with pytest.raises(ConflictError, match="changed since you read it|changed since it was read"):
        client.patch(f"/data/1/features({key})", json={"salesPrice": 1.0})
    assert stored(sb, "Features")[key]["name"] == "changed by another user"
    assert client.journal.entries()[-1].outcome == "failed"
    client.get(f"/data/1/features({key})")  # read again: the new ETag
    client.patch(f"/data/1/features({key})", json={"salesPrice": 1.0})
    client.patch(f"/data/1/features({key})", json={"salesPrice": 2.0})  # its own write's ETag
    assert stored(sb, "Features")[key]["salesPrice"] == 2.0


# -- hostile input -------------------------------------------------------------------------------


def test_undo_with_an_empty_journal_or_an_unknown_id(client) -> None:
    with pytest.raises(JournalError, match="no write to undo"):
        client.undo()
    with pytest.raises(JournalError, match="no write nope"):
        client.undo("nope")


def test_a_corrupted_journal_line_is_named_and_left_alone(sb, client) -> None:
    key = sb.rows("Features")[0]["id"]
    client.patch(f"/data/1/features({key})", json={"salesPrice": 4.0})
    path = client.journal.path
    path.write_text(path.read_text() + '{"type": "write", "id": \n')
    damaged = path.read_bytes()
    with pytest.raises(JournalError, match="Line 3 of the journal"):
        client.undo()
    with pytest.raises(JournalError, match="Line 3"):
        client.journal.frame()
    assert path.read_bytes() == damaged


def test_undo_as_another_client_is_refused(sb, client, tmp_path) -> None:
    key = sb.rows("Features")[0]["id"]
    client.patch(f"/data/1/features({key})", json={"salesPrice": 4.0})
    write_id = client.journal.entries()[-1].id
    # The refusal comes before any request: no login needed.
    other = ElfsquadClient(
        "other-client", "x", api_url=sb.api_url, journal_dir=tmp_path / "journal"
    )
    with pytest.raises(JournalError, match="made by the client demo-client"):
        other.undo(write_id)


def test_journal_files_are_private_and_hold_no_secret(sb, client, tmp_path) -> None:
    key = sb.rows("Features")[0]["id"]
    client.patch(f"/data/1/features({key})", json={"salesPrice": 4.0})
    client.undo()
    client.post("/data/1/features/BulkDelete", json=[key])
    root = tmp_path / "journal"
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    secrets = secrets_of(sb)
    assert len(secrets) >= 3
    for path in Path(root).rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert all(secret.encode() not in content for secret in secrets), path


def test_a_write_fails_cleanly_when_the_connection_breaks(sb, client) -> None:
    key = sb.rows("Features")[0]["id"]
    sb.configure(
        fault_rate=1.0, fault_after=0, fault_kinds=("cut",), fault_limit=1, fault_writes_only=True
    )
    with pytest.raises(ConnectionFailedError):
        client.patch(f"/data/1/features({key})", json={"salesPrice": 4.0})
    assert client.journal.entries()[-1].outcome == "unknown"
    with pytest.raises(JournalError, match="no write to undo"):
        client.undo()


def test_a_write_while_logged_out_leaves_no_journal_line(sb, client) -> None:
    from elfsquad_magic.errors import NotLoggedInError

    client.logout()
    with pytest.raises(NotLoggedInError):
        client.patch(f"/data/1/features({sb.rows('Features')[0]['id']})", json={"name": "x"})
    assert not client.journal.path.exists()


def test_ctrl_c_during_a_write_leaves_its_before_image_in_the_journal(sb, client) -> None:
    row = sb.rows("Features")[0]
    real_send = client.engine.fetch

    def interrupted(request, options=None):
        if request.method != "GET":
            raise KeyboardInterrupt
        return real_send(request, options)

    client.engine.fetch = interrupted
    with pytest.raises(KeyboardInterrupt):
        client.patch(f"/data/1/features({row['id']})", json={"salesPrice": 1.0})
    entry = client.journal.entries()[-1]
    assert entry.outcome == "unknown" and entry.before[0]["salesPrice"] == row["salesPrice"]
    assert stored(sb, "Features")[row["id"]]["salesPrice"] == row["salesPrice"]


def test_ctrl_c_in_a_bulk_write_says_what_was_written(sb, client) -> None:
    lines = client.get("/data/1/quotationlines", top=300, select="id,quantity")
    real_send, chunks = client.engine.fetch, []

    def interrupted(request, options=None):
        if request.method == "POST":
            chunks.append(request)
            if len(chunks) == 2:
                raise KeyboardInterrupt
        return real_send(request, options)

    client.engine.fetch = interrupted
    client.bulk_size = 100
    with pytest.raises(PartialWriteError) as caught:
        client.post("/data/1/quotationlines/BulkUpdate", json=lines.assign(quantity=9.0))
    error = caught.value
    assert (len(error.applied), len(error.unknown), len(error.not_applied)) == (100, 100, 100)
    client.engine.fetch = real_send
    assert client.journal.entries()[-1].outcome == "partial"
    client.undo()
    now = stored(sb, "QuotationLines")
    assert all(now[k]["quantity"] != 9.0 for k in error.applied)
