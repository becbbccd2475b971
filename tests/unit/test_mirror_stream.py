"""A mirror file written batch by batch: row groups as the batches come, the old file until the
one step that replaces it, nothing left behind when it is given up."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from elfsquad_magic.store.mirror import Mirror, MirrorInfo, stored_form

EDM = {"id": "Edm.Guid", "n": "Edm.Int32", "tags": "Collection(Edm.String)"}


def batch(start: int, rows: int) -> pa.Table:
    return pa.table(
        {
            "id": pa.array([f"k{i:05d}" for i in range(start, start + rows)], pa.large_string()),
            "n": pa.array(range(start, start + rows), pa.int64()),
            "tags": pa.array([["a", str(i)] for i in range(rows)], pa.list_(pa.large_string())),
            "@odata.etag": pa.array(["W/x"] * rows, pa.large_string()),
        }
    )


def info_for(table: pa.Table, json_columns: tuple[str, ...]) -> MirrorInfo:
    return MirrorInfo(
        "Things", ("id",), EDM, tuple(table.column_names), json_columns, rows=table.num_rows
    )


def test_batches_become_row_groups_as_they_come_and_one_rename_replaces_the_file(
    tmp_path,
) -> None:
    mirror = Mirror(tmp_path, "https://api.example.com", "client")
    with mirror.lock("Things"):
        old, old_json = stored_form(batch(0, 3).drop_columns(["@odata.etag"]))
        mirror.write(old, info_for(old, old_json))
        stream = mirror.stream("Things")
        stream.group_rows = 10
        sizes = []
        batches = [batch(i * 10, 10) for i in range(4)]
        for piece in batches:
            stream.write(piece)
            temporary = list(tmp_path.rglob("*.tmp"))
            assert len(temporary) == 1
            sizes.append(temporary[0].stat().st_size)
            assert mirror.read_table("Things")[0].equals(old)  # readers still see the old one
        assert sizes == sorted(sizes) and sizes[-1] > sizes[0]  # written as they came
        whole, json_columns = stored_form(pa.concat_tables(batches).drop_columns(["@odata.etag"]))
        assert json_columns == ("tags",) and stream.json_columns == ("tags",)
        written = stream.finish(whole, info_for(whole, json_columns))
    assert pq.ParquetFile(written.path).metadata.num_row_groups == 4
    table, info = mirror.read_table("Things")
    assert table.equals(whole) and info.rows == 40 and info.json_columns == ("tags",)
    assert table.column("tags")[0].as_py() == '["a","0"]'  # collections kept as JSON text
    assert not list(tmp_path.rglob("*.tmp"))


def test_an_aborted_stream_leaves_the_old_file_and_nothing_else(tmp_path) -> None:
    mirror = Mirror(tmp_path, "https://api.example.com", "client")
    with mirror.lock("Things"):
        stream = mirror.stream("Things")
        stream.group_rows = 5
        stream.write(batch(0, 10))
        stream.abort()
    assert mirror.info("Things") is None and not list(tmp_path.rglob("*.tmp"))


def test_a_batch_that_does_not_fit_the_file_makes_finish_write_the_whole_table(
    tmp_path,
) -> None:
    mirror = Mirror(tmp_path, "https://api.example.com", "client")
    with mirror.lock("Things"):
        stream = mirror.stream("Things")
        stream.write(batch(0, 5))
        odd = batch(5, 5).append_column("extra", pa.array([1] * 5))
        stream.write(odd)  # a property that turned up late
        whole, json_columns = stored_form(
            pa.concat_tables([batch(0, 5), odd], promote_options="permissive").drop_columns(
                ["@odata.etag"]
            )
        )
        stream.finish(whole, info_for(whole, json_columns))
    assert mirror.read_table("Things")[0].equals(whole)
    assert not list(tmp_path.rglob("*.tmp"))
