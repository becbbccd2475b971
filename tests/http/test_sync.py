"""The incremental mirror against the sandbox over HTTP: each rule of the sync, its cost in
requests, and that the mirror always equals a full fetch."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from clients import make_client
from leakcheck import secrets_of

from elfsquad_magic.errors import MirrorError, UsageError
from elfsquad_magic.sandbox import Sandbox
from elfsquad_magic.store.mirror import Mirror

LINES = "QuotationLines"


@pytest.fixture
def lines_sandbox() -> Sandbox:
    """About 30,000 lines in 120+ pages of 250: the issue's target size."""
    with Sandbox(scale=6, seed=3, page_size=250) as sb:
        yield sb


def full_fetch(client, name: str) -> pd.DataFrame:
    return client.get(f"/data/1/{name}", concurrency=4)


def assert_same(mirrored: pd.DataFrame, full: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(mirrored, full, check_exact=True)


def some_line(sb: Sandbox, index: int) -> dict:
    return sb.rows(LINES)[index]


def new_line(sb: Sandbox, like: int = 0) -> dict:
    body = dict(some_line(sb, like))
    for name in ("id", "createdDate", "updatedDate"):
        body.pop(name)
    return body


def test_the_second_sync_reads_nothing_but_the_count(lines_sandbox: Sandbox, tmp_path) -> None:
    client = make_client(lines_sandbox, mirror_dir=tmp_path)
    client.login()
    first = client.sync(LINES)
    report = client.last_sync
    assert report.full and report.reason == "first sync"
    assert report.rows == len(lines_sandbox.rows(LINES)) >= 30_000
    assert report.requests >= 121  # every page, and the closing count
    # The next morning: a new kernel, so $metadata is read again, and counted.
    kernel = make_client(lines_sandbox, mirror_dir=tmp_path)
    kernel.login()
    again = kernel.sync(LINES)
    report = kernel.last_sync
    assert 3 <= report.requests <= 4, report
    assert (report.changed, report.new, report.deleted) == (0, 0, 0)
    assert_same(again, first)
    assert_same(again, full_fetch(client, LINES))


def test_rows_read_again_by_the_lookback_leave_the_file_unread(
    fresh_sandbox: Sandbox, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look-back always reads the newest rows again; when they are as mirrored, only
    their own row groups are read to compare, never the whole file (polars reads it for the
    result by itself), and nothing is written."""
    sb = fresh_sandbox
    client = make_client(sb, mirror_dir=tmp_path)
    client.login()
    client.sync(LINES)
    changed = some_line(sb, 7)["id"]
    client.patch(f"/data/1/{LINES}({changed})", json={"quantity": 31})
    client.sync(LINES)  # merged: the watermark is now, the patched row within the look-back
    path = client.mirror.path(LINES)
    written = path.stat().st_mtime_ns
    whole_reads: list[str] = []
    read_table = Mirror.read_table
    monkeypatch.setattr(
        Mirror, "read_table", lambda self, name: whole_reads.append(name) or read_table(self, name)
    )
    rows_reads: list[str] = []
    read_rows = Mirror.read_rows
    monkeypatch.setattr(
        Mirror,
        "read_rows",
        lambda self, name, *key: rows_reads.append(name) or read_rows(self, name, *key),
    )
    again = client.sync(LINES, output="polars")
    report = client.last_sync
    assert (report.changed, report.new, report.deleted) == (0, 0, 0)
    # polars read the file for the result: the rows read again are compared with that read.
    assert whole_reads == [] and rows_reads == [] and path.stat().st_mtime_ns == written
    client.sync(LINES, output="polars", select="id,quantity")
    assert whole_reads == [] and rows_reads == [LINES]  # some columns only: those rows alone
    rows_reads.clear()
    frame = client.sync(LINES)
    # pandas (and Arrow) read the file once, while the two requests are out, for the result.
    assert whole_reads == [LINES] and rows_reads == [] and path.stat().st_mtime_ns == written
    whole_reads.clear()
    assert_same(frame, full_fetch(client, LINES))
    assert frame.set_index("id").loc[changed, "quantity"] == 31
    assert again.height == len(frame)
    # The same row changed again within the look-back: found, and the file read to merge.
    client.patch(f"/data/1/{LINES}({changed})", json={"quantity": 32})
    synced = client.sync(LINES)
    assert client.last_sync.changed == 1 and whole_reads == [LINES]  # to merge, then kept
    assert synced.set_index("id").loc[changed, "quantity"] == 32


def test_updates_inserts_and_deletions_cost_at_most_40_requests(
    lines_sandbox: Sandbox, tmp_path
) -> None:
    sb = lines_sandbox
    client = make_client(sb, mirror_dir=tmp_path)
    client.login()
    client.sync(LINES)
    rows = sb.rows(LINES)
    for row in rows[10:15]:
        client.patch(f"/data/1/{LINES}({row['id']})", json={"quantity": 77})
    for _ in range(3):
        client.post(f"/data/1/{LINES}", json=new_line(sb))
    deleted = [rows[5000]["id"], rows[21000]["id"]]
    for key in deleted:
        client.delete(f"/data/1/{LINES}({key})")
    synced = client.sync(LINES)
    report = client.last_sync
    assert (report.changed, report.new, report.deleted) == (5, 3, 2), report
    assert report.requests <= 40, report
    assert report.full_requests >= 121
    assert not set(deleted) & set(synced["id"])
    assert_same(synced, full_fetch(client, LINES))
    assert "5 changed, 3 new, 2 deleted" in str(report)


def test_a_new_row_with_the_empty_updated_date_is_found_by_created_date(
    fresh_sandbox: Sandbox, tmp_path
) -> None:
    client = make_client(fresh_sandbox, mirror_dir=tmp_path)
    client.login()
    client.sync(LINES)
    created = client.post(f"/data/1/{LINES}", json=new_line(fresh_sandbox), raw=True)
    assert created["updatedDate"] == "0001-01-01T00:00:00Z"  # as the real service writes it
    synced = client.sync(LINES)
    assert client.last_sync.new == 1
    assert created["id"] in set(synced["id"])
    assert_same(synced, full_fetch(client, LINES))


def test_a_change_committed_late_is_found_within_the_lookback(
    fresh_sandbox: Sandbox, tmp_path
) -> None:
    """A transaction stamped before the watermark but committed after the last sync read."""
    sb = fresh_sandbox
    client = make_client(sb, mirror_dir=tmp_path)
    client.login()
    client.sync(LINES)
    # A write now moves the watermark to the service's "now".
    client.patch(f"/data/1/{LINES}({some_line(sb, 1)['id']})", json={"quantity": 3})
    client.sync(LINES)
    late = some_line(sb, 2)["id"]
    sb.commit_late(LINES, late, {"description": "committed late"}, seconds_ago=60)
    synced = client.sync(LINES)
    assert client.last_sync.changed == 1
    assert synced.set_index("id").loc[late, "description"] == "committed late"
    assert_same(synced, full_fetch(client, LINES))


def test_without_a_lookback_the_late_change_is_missed(fresh_sandbox: Sandbox, tmp_path) -> None:
    """The look-back window is what finds it: the test above can fail."""
    sb = fresh_sandbox
    client = make_client(sb, mirror_dir=tmp_path, sync_lookback=0)
    client.login()
    client.sync(LINES)
    client.patch(f"/data/1/{LINES}({some_line(sb, 1)['id']})", json={"quantity": 3})
    client.sync(LINES)
    sb.commit_late(LINES, some_line(sb, 2)["id"], {"description": "late"}, seconds_ago=60)
    client.sync(LINES)
    assert client.last_sync.changed == 0


def test_the_watermark_is_the_services_stamp_not_the_local_clock(
    fresh_sandbox: Sandbox, tmp_path
) -> None:
    client = make_client(fresh_sandbox, mirror_dir=tmp_path)
    client.login()
    client.sync(LINES)
    newest = max(
        max(r["createdDate"], r["updatedDate"]) for r in fresh_sandbox.rows(LINES)
    )  # seeded stamps lie in the past
    info = client.mirror.info(LINES)
    assert pd.Timestamp(info.watermark) == pd.Timestamp(newest)


def test_a_new_property_is_added_to_the_mirror_and_said(fresh_sandbox: Sandbox, tmp_path) -> None:
    sb = fresh_sandbox
    client = make_client(sb, mirror_dir=tmp_path)
    client.login()
    client.sync(LINES)
    sb.add_property(LINES, "warrantyYears", "Edm.Int32", 2)
    later = make_client(sb, mirror_dir=tmp_path)  # a new kernel reads the new $metadata
    later.login()
    synced = later.sync(LINES)
    report = later.last_sync
    assert report.full and "warrantyYears" in report.reason
    assert report.added_columns == ("warrantyYears",)
    assert "warrantyYears" in str(report)
    assert (synced["warrantyYears"] == 2).all()
    assert_same(synced, full_fetch(later, LINES))
    later.sync(LINES)
    assert not later.last_sync.full


def test_a_set_without_time_stamps_is_read_in_full_and_said(sandbox: Sandbox, tmp_path) -> None:
    client = make_client(sandbox, mirror_dir=tmp_path)
    client.login()
    client.sync("QuotationGroups")
    client.sync("QuotationGroups")
    assert client.last_sync.full
    assert "no updatedDate" in str(client.last_sync)


@pytest.mark.parametrize("backend", [None, "numpy_nullable", "pyarrow"])
def test_every_set_with_rows_equals_a_full_fetch(sandbox: Sandbox, tmp_path, backend) -> None:
    client = make_client(sandbox, mirror_dir=tmp_path, dtype_backend=backend)
    client.login()
    for name in client.schema().entity_sets:
        if not sandbox.rows(name):
            continue
        first = client.sync(name)
        assert_same(first, full_fetch(client, name))
        assert_same(client.sync(name), first)  # read back from Parquet
        assert_same(client.sync(name, offline=True), first)


def test_select_returns_those_columns_of_the_whole_set(sandbox: Sandbox, tmp_path) -> None:
    client = make_client(sandbox, mirror_dir=tmp_path)
    client.login()
    chosen = client.sync("features", select="Name,salesPrice")
    assert list(chosen.columns) == ["name", "salesPrice"]
    assert len(chosen) == len(sandbox.rows("Features"))
    with pytest.raises(UsageError, match="no property 'nope'"):
        client.sync("features", select="name,nope")


def test_an_unknown_set_names_the_close_ones(sandbox: Sandbox, tmp_path) -> None:
    client = make_client(sandbox, mirror_dir=tmp_path)
    client.login()
    with pytest.raises(UsageError, match="QuotationLines"):
        client.sync("QuotationLine")


def test_offline_needs_no_network_and_says_when_there_is_no_mirror(
    fresh_sandbox: Sandbox, tmp_path
) -> None:
    client = make_client(fresh_sandbox, mirror_dir=tmp_path)
    client.login()
    with pytest.raises(MirrorError, match="no mirror of Features"):
        client.sync("Features", offline=True)
    online = client.sync("Features")
    fresh_sandbox.stop()
    calls = client.api_calls
    offline = client.sync("features", offline=True)
    assert client.api_calls == calls
    assert_same(offline, online)
    assert "from the mirror" in str(client.last_sync)


def test_full_rebuilds(sandbox: Sandbox, tmp_path) -> None:
    client = make_client(sandbox, mirror_dir=tmp_path)
    client.login()
    client.sync("Features")
    client.sync("Features", full=True)
    assert client.last_sync.full and client.last_sync.reason == "--full"


def test_mirror_files_are_private_and_hold_no_secret(fresh_sandbox: Sandbox, tmp_path) -> None:
    client = make_client(fresh_sandbox, mirror_dir=tmp_path)
    client.login()
    client.sync(LINES)
    client.patch(f"/data/1/{LINES}({some_line(fresh_sandbox, 0)['id']})", json={"quantity": 9})
    client.sync(LINES)
    client.sync("Features")
    folder = client.mirror.folder
    assert folder.parent.parent == Path(tmp_path)
    files = [p for p in Path(tmp_path).rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files)
    for path in Path(tmp_path).rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode == 0o700, path
        else:
            assert mode & 0o077 == 0, (path, oct(mode))
    secrets = secrets_of(fresh_sandbox)
    assert len(secrets) >= 3
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, path
    assert not list(Path(tmp_path).rglob("*.tmp"))


def test_the_mirror_is_plain_parquet(sandbox: Sandbox, tmp_path) -> None:
    duckdb = pytest.importorskip("duckdb")
    client = make_client(sandbox, mirror_dir=tmp_path)
    client.login()
    client.sync("Features")
    path = client.mirror.info("Features").path
    assert pq.read_table(path).num_rows == len(sandbox.rows("Features"))
    connection = duckdb.connect()
    count = connection.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()[0][0]
    assert count == len(sandbox.rows("Features"))


def test_faults_during_a_sync_end_in_the_old_mirror_or_the_new(
    fresh_sandbox: Sandbox, tmp_path
) -> None:
    sb = fresh_sandbox
    client = make_client(sb, mirror_dir=tmp_path, retry_seconds=0.5)
    client.login()
    before = client.sync(LINES)
    for row in sb.rows(LINES)[:3]:
        client.patch(f"/data/1/{LINES}({row['id']})", json={"quantity": 5})
    client.delete(f"/data/1/{LINES}({sb.rows(LINES)[50]['id']})")
    expected = full_fetch(client, LINES)
    outcomes = set()
    for seed in range(12):
        sb.configure(fault_rate=0.5, fault_seed=seed, retry_after=0)
        try:
            client.sync(LINES)
            outcomes.add("new")
        except Exception as exc:
            assert "as it was" in str(exc), exc
            outcomes.add("failed")
        sb.configure(fault_rate=0)
        state = client.sync(LINES, offline=True)
        if state.equals(before):
            continue
        assert_same(state, expected)
    assert "failed" in outcomes  # the faults did stop some syncs
    assert_same(client.sync(LINES), expected)


def test_a_locked_set_waits_then_says_who_holds_it(sandbox: Sandbox, tmp_path) -> None:
    client = make_client(sandbox, mirror_dir=tmp_path)
    client.login()
    mirror = client.mirror
    from filelock import FileLock

    os.makedirs(mirror.folder, exist_ok=True)
    holder = FileLock(str(mirror.path("Features")) + ".lock")
    with holder, pytest.raises(MirrorError, match="Another process"), mirror.lock("Features", 0.2):
        pass


def test_ctrl_c_in_a_sync_leaves_the_mirror_as_it_was(fresh_sandbox: Sandbox, tmp_path) -> None:
    client = make_client(fresh_sandbox, mirror_dir=tmp_path)
    client.login()
    client.sync(LINES)
    path = client.mirror.info(LINES).path
    before = path.read_bytes()
    client.delete(f"/data/1/{LINES}({some_line(fresh_sandbox, 7)['id']})")
    real_fetch, calls = client.engine.fetch, []

    def interrupted(request, options=None):
        calls.append(request)
        if len(calls) == 2:  # after the changed rows, in the deletion search
            raise KeyboardInterrupt
        return real_fetch(request, options)

    client.engine.fetch = interrupted
    with pytest.raises(MirrorError, match="(?s)interrupted.*as it was"):
        client.sync(LINES)
    assert path.read_bytes() == before
    assert not list(Path(tmp_path).rglob("*.tmp"))
    client.engine.fetch = real_fetch
    assert_same(client.sync(LINES), full_fetch(client, LINES))
