"""The mirror's files without a network: atomic replacement, footers, permissions, locating a
tenant's folder, the deletion search's ranges and SQL placeholders."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from elfsquad_magic.errors import InterpolationError, MirrorError
from elfsquad_magic.store.deletion_search import range_filter, split_points
from elfsquad_magic.store.mirror import Mirror, MirrorInfo, frame_to_arrow, stamp_text
from elfsquad_magic.store.sql import placeholders_as_parameters
from elfsquad_magic.store.sync import SyncReport

EDM = {"id": "Edm.Int32", "name": "Edm.String", "createdDate": "Edm.DateTimeOffset"}


def a_table(rows: int) -> tuple[pa.Table, MirrorInfo]:
    frame = pd.DataFrame(
        {
            "id": range(rows),
            "name": [f"n{i}" for i in range(rows)],
            "createdDate": pd.date_range("2024-01-01", periods=rows, freq="h", tz="UTC"),
        }
    )
    info = MirrorInfo("Things", ("id",), EDM, tuple(frame.columns), rows=rows, watermark="x")
    return frame_to_arrow(frame), info


def test_a_written_set_reads_back_with_its_footer(tmp_path) -> None:
    mirror = Mirror(tmp_path, "https://api.example.com", "client one")
    table, info = a_table(5)
    with mirror.lock("Things"):
        mirror.write(table, info)
    found = mirror.read_frame("things".capitalize())
    assert found is not None
    frame, read = found
    assert list(frame["id"]) == [0, 1, 2, 3, 4]
    assert read.watermark == "x" and read.key == ("id",) and read.size > 0
    assert mirror.find("THINGS") == "Things"
    assert mirror.folder == tmp_path / "api.example.com" / "client_one"


def test_a_whole_set_is_read_outside_pyarrows_default_pool(tmp_path) -> None:
    # The default pool asks for huge pages, slow to come where memory goes back to a host.
    mirror = Mirror(tmp_path, "https://api.example.com", "c")
    table, info = a_table(200_000)
    with mirror.lock("Things"):
        mirror.write(table, info)
    pool = pa.default_memory_pool()
    pool.release_unused()
    before = pool.bytes_allocated()
    found = mirror.read_table("Things")
    assert found is not None and found[0].equals(table.replace_schema_metadata(None))
    assert pool.bytes_allocated() - before < 1_000_000 < found[0].nbytes


def test_replacing_a_set_is_one_rename_and_leaves_no_temporary_file(tmp_path) -> None:
    mirror = Mirror(tmp_path, "https://api.example.com", "c")
    with mirror.lock("Things"):
        mirror.write(*a_table(3))
        inode = mirror.path("Things").stat().st_ino
        mirror.write(*a_table(4))
    assert mirror.path("Things").stat().st_ino != inode
    assert mirror.info("Things").rows == 4
    assert [p.name for p in mirror.folder.iterdir() if p.suffix == ".tmp"] == []


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch) -> None:
    mirror = Mirror(tmp_path, "https://api.example.com", "c")
    with mirror.lock("Things"):
        mirror.write(*a_table(3))

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("elfsquad_magic.store.mirror.pq.write_table", broken)
    with pytest.raises(OSError), mirror.lock("Things"):
        mirror.write(*a_table(9))
    assert mirror.info("Things").rows == 3
    assert not list(mirror.folder.glob("*.tmp"))


def test_leftovers_of_a_killed_write_are_removed_under_the_lock(tmp_path) -> None:
    mirror = Mirror(tmp_path, "https://api.example.com", "c")
    with mirror.lock("Things"):
        mirror.write(*a_table(3))
    leftover = mirror.folder / ".Things.parquet.abcd1234.tmp"
    leftover.write_bytes(b"half a file")
    with mirror.lock("Things"):
        pass
    assert not leftover.exists()


def test_files_and_folders_are_for_the_user_only(tmp_path) -> None:
    root = tmp_path / "new-root"
    mirror = Mirror(root, "https://api.example.com", "c")
    with mirror.lock("Things"):
        mirror.write(*a_table(3))
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_an_unreadable_file_says_how_to_rebuild(tmp_path) -> None:
    mirror = Mirror(tmp_path, "https://api.example.com", "c")
    os.makedirs(mirror.folder)
    mirror.path("Things").write_bytes(b"not parquet at all")
    with pytest.raises(MirrorError) as caught:
        mirror.info("Things")
    assert "--sync --full" in caught.value.hint  # in a script: client.sync(..., full=True)


def test_locate_finds_the_only_client_or_asks(tmp_path) -> None:
    with pytest.raises(MirrorError, match="no mirror for api.example.com"):
        Mirror.locate(tmp_path, "https://api.example.com")
    one = Mirror(tmp_path, "https://api.example.com", "first")
    os.makedirs(one.folder)
    assert Mirror.locate(tmp_path, "https://api.example.com").folder == one.folder
    os.makedirs(Mirror(tmp_path, "https://api.example.com", "second").folder)
    with pytest.raises(MirrorError, match="ELFSQUAD_CLIENT_ID"):
        Mirror.locate(tmp_path, "https://api.example.com")


def test_a_client_id_cannot_leave_the_mirror_folder(tmp_path) -> None:
    mirror = Mirror(tmp_path, "https://api.example.com", "../../etc")
    assert tmp_path in mirror.folder.parents


def test_stamps_are_written_as_the_service_writes_them() -> None:
    assert (
        stamp_text(pd.Timestamp("2025-01-10T02:40:22.0486108Z")) == "2025-01-10T02:40:22.0486108Z"
    )
    assert stamp_text(pd.Timestamp("2025-01-10 02:40:22")) == "2025-01-10T02:40:22.0000000Z"


def test_split_points_keep_equal_stamps_together() -> None:
    nat = np.iinfo(np.int64).min
    stamps = np.array([nat, nat, 5, 5, 5, 5, 9, 9], dtype=np.int64)
    for parts in (2, 3, 4, 8):
        points = split_points(stamps, 0, 8, parts)
        assert points and all(stamps[p] != stamps[p - 1] for p in points)
        assert all(stamps[p] != nat for p in points)
    assert split_points(stamps, 0, 8, 2) == [2] or split_points(stamps, 0, 8, 2) == [6]
    assert split_points(np.arange(16, dtype=np.int64), 0, 16, 4) == [4, 8, 12]
    assert split_points(np.array([5, 5, 5], dtype=np.int64), 0, 3, 2) == []
    assert split_points(np.array([nat, nat], dtype=np.int64), 0, 2, 4) == []


def test_the_lowest_range_takes_in_rows_without_a_date() -> None:
    low = pd.Timestamp("2024-01-01", tz="UTC").value
    high = pd.Timestamp("2024-02-01", tz="UTC").value
    assert range_filter(None, None) is None
    assert range_filter(None, high) == (
        "(createdDate lt 2024-02-01T00:00:00.0000000Z or createdDate eq null)"
    )
    assert range_filter(low, high) == (
        "createdDate ge 2024-01-01T00:00:00.0000000Z"
        " and createdDate lt 2024-02-01T00:00:00.0000000Z"
    )


def test_the_summary_line() -> None:
    report = SyncReport(
        "QuotationLines", 30003, 5, 3, 2, requests=9, seconds=0.8, full_requests=121
    )
    assert str(report) == (
        "QuotationLines: 30,003 rows - 5 changed, 3 new, 2 deleted - 9 requests in 0.8 s "
        "(a full fetch takes 121)"
    )


def test_placeholders_become_parameters_outside_strings_and_comments() -> None:
    values = {"low": 3, "name": "x'); DROP TABLE t; --"}
    query, params = placeholders_as_parameters(
        "SELECT '{{low}}' FROM t WHERE a > {{ low }} AND b = {{name}} -- {{gone}}",
        values.__getitem__,
    )
    assert query == "SELECT '{{low}}' FROM t WHERE a > $low AND b = $name -- {{gone}}"
    assert params == values

    def missing(name: str):
        raise InterpolationError(name)

    with pytest.raises(InterpolationError):
        placeholders_as_parameters("SELECT {{nope}}", missing)
