"""Results as pandas, polars or Arrow: the same values and types whichever is asked for, from a
fetch, a sync (first, unchanged, changed, offline) and SQL, against the sandbox over HTTP."""

from __future__ import annotations

import sys

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from clients import make_client

from elfsquad_magic.errors import UsageError
from elfsquad_magic.fetch.tables import INFO_KEY, info_of, to_output
from elfsquad_magic.sandbox import Sandbox


def as_pandas(value, client, name: str) -> pd.DataFrame:
    """An Arrow or polars result converted to pandas the way a fetch types its columns."""
    table = value.to_arrow() if isinstance(value, pl.DataFrame) else value
    edm_types = client.schema().edm_types_for(name)
    return to_output(table.replace_schema_metadata(None), "pandas", edm_types)


def assert_same_everywhere(client, name: str, pandas_result, arrow_result, polars_result) -> None:
    assert isinstance(arrow_result, pa.Table) and isinstance(polars_result, pl.DataFrame)
    assert list(arrow_result.column_names) == list(pandas_result.columns)
    assert polars_result.columns == list(pandas_result.columns)
    pd.testing.assert_frame_equal(
        as_pandas(arrow_result, client, name), pandas_result, check_exact=True
    )
    pd.testing.assert_frame_equal(
        as_pandas(polars_result, client, name), pandas_result, check_exact=True
    )
    assert polars_result.equals(pl.from_arrow(arrow_result.replace_schema_metadata(None)))


def sets_with_rows(sb: Sandbox, client) -> list[str]:
    return [name for name in client.schema().entity_sets if sb.rows(name)]


def test_every_set_is_the_same_in_every_output(small_pages: Sandbox) -> None:
    client = make_client(small_pages)
    names = sets_with_rows(small_pages, client)
    assert len(names) > 30
    for name in names:
        path = f"/data/1/{name}"
        assert_same_everywhere(
            client,
            name,
            client.get(path),
            client.get(path, output="arrow"),
            client.get(path, output="polars"),
        )


def test_types_are_faithful(small_pages: Sandbox) -> None:
    client = make_client(small_pages)
    lines = client.get("/data/1/QuotationLines", output="polars")
    assert lines.schema["createdDate"] == pl.Datetime("ns", "UTC")  # 100 ns, as sent
    assert lines.schema["quantity"] == pl.Float64
    assert lines.schema["lineNumber"] == pl.Int64
    assert lines.schema["description"] == pl.String
    assert lines.schema["groupedRootLine"] == pl.Boolean
    table = client.get("/data/1/QuotationLines", output="arrow")
    assert table.schema.field("createdDate").type == pa.timestamp("ns", "UTC")
    stamps = [r["createdDate"] for r in small_pages.rows("QuotationLines")]
    exact = pd.to_datetime(stamps, utc=True, format="ISO8601")
    assert table.column("createdDate").to_pylist()[:50] == list(exact[:50])
    # lists stay lists, typed by the collection's Edm type
    features = client.get("/data/1/Features", output="polars")
    assert features.schema["tags"] == pl.List(pl.String)
    assert features["tags"].to_list() == [r["tags"] for r in small_pages.rows("Features")]
    # integers with nulls stay integers (no float detour)
    quotations = client.get("/data/1/Quotations", output="arrow")
    assert pa.types.is_int64(quotations.schema.field("versionNumber").type)


def test_an_integer_column_with_nulls_keeps_every_digit(fresh_sandbox: Sandbox) -> None:
    fresh_sandbox.add_property("Quotations", "bigNumber", "Edm.Int64", None)
    client = make_client(fresh_sandbox)
    key = fresh_sandbox.rows("Quotations")[3]["id"]
    fresh_sandbox.commit_late("Quotations", key, {"bigNumber": 2**60 + 1}, seconds_ago=0)
    table = client.get("/data/1/Quotations", output="arrow")
    values = table.column("bigNumber").to_pylist()
    assert values.count(None) == table.num_rows - 1 and 2**60 + 1 in values
    frame = client.get("/data/1/Quotations", output="polars")
    assert frame.schema["bigNumber"] == pl.Int64 and frame["bigNumber"].max() == 2**60 + 1


def test_etags_are_dropped_alike_and_still_remembered(sandbox: Sandbox) -> None:
    client = make_client(sandbox)
    table = client.get("/data/1/Vats", output="arrow")
    assert "@odata.etag" not in table.column_names
    key = table.column("id")[0].as_py()
    assert client.etags.get("Vats", key)  # a write to it would send If-Match
    polars_client = make_client(sandbox)
    frame = polars_client.get("/data/1/Vats", output="polars")
    assert "@odata.etag" not in frame.columns
    assert polars_client.etags.get("Vats", key) == client.etags.get("Vats", key)


def test_the_metadata_of_each_output(sandbox: Sandbox) -> None:
    client = make_client(sandbox)
    table = client.get("/data/1/Vats", output="arrow")
    info = info_of(table)
    assert info["pages"] == 1 and info["url"].endswith("/data/1/Vats")
    assert INFO_KEY in table.schema.metadata
    frame = client.get("/data/1/Vats", output="polars")
    assert client.last_info["url"].endswith("/data/1/Vats") and info_of(frame) is None


def test_a_setting_and_one_call(sandbox: Sandbox) -> None:
    client = make_client(sandbox, output="polars")
    assert isinstance(client.get("/data/1/Vats"), pl.DataFrame)
    assert isinstance(client.get("/data/1/Vats", output="pandas"), pd.DataFrame)
    client.output = "arrow"
    assert isinstance(client.get("/data/1/Vats(" + sandbox.rows("Vats")[0]["id"] + ")"), pa.Table)
    assert isinstance(client.get("/data/1/Vats", raw=True), dict)  # raw stays JSON
    with pytest.raises(UsageError, match="Unknown output"):
        client.get("/data/1/Vats", output="excel")


def test_polars_missing_names_the_extra(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "polars", None)  # import polars now fails
    with pytest.raises(UsageError) as caught:
        make_client(sandbox, output="polars")
    assert "elfsquad-magic[polars]" in caught.value.hint
    client = make_client(sandbox)
    with pytest.raises(UsageError, match="polars"):
        client.get("/data/1/Vats", output="polars")
    assert isinstance(client.get("/data/1/Vats", output="arrow"), pa.Table)  # no polars needed


def test_sync_gives_every_output_the_fetch_gives(small_pages: Sandbox, tmp_path) -> None:
    client = make_client(small_pages, mirror_dir=tmp_path)
    for name in ("QuotationLines", "Features", "Quotations"):
        fetched = {out: client.get(f"/data/1/{name}", output=out) for out in ("arrow", "polars")}
        first = client.sync(name, output="arrow")  # the first sync: written as it came
        assert first.replace_schema_metadata(None).equals(
            fetched["arrow"].replace_schema_metadata(None)
        )
        for output in ("pandas", "arrow", "polars"):
            again = client.sync(name, output=output)  # unchanged: the file read once
            offline = client.sync(name, output=output, offline=True)
            if output == "polars":
                assert again.equals(fetched["polars"]) and offline.equals(fetched["polars"])
            elif output == "arrow":
                assert info_of(again)["sync"]["rows"] == again.num_rows
                for value in (again, offline):
                    assert value.replace_schema_metadata(None).equals(
                        fetched["arrow"].replace_schema_metadata(None)
                    )
            else:
                pd.testing.assert_frame_equal(again, client.get(f"/data/1/{name}"))


def test_a_resync_with_changes_in_every_output(fresh_sandbox: Sandbox, tmp_path) -> None:
    client = make_client(fresh_sandbox, mirror_dir=tmp_path)
    client.sync("Features")
    rows = fresh_sandbox.rows("Features")
    client.patch(f"/data/1/Features({rows[0]['id']})", json={"salesPrice": 12.5, "tags": ["x"]})
    client.delete(f"/data/1/Features({rows[1]['id']})")
    synced = client.sync("Features", output="polars")
    assert client.last_sync.changed == 1 and client.last_sync.deleted == 1
    assert synced.equals(client.get("/data/1/Features", output="polars"))
    selected = client.sync("Features", select="Name,tags", output="arrow")
    assert selected.column_names == ["name", "tags"]
    assert selected.schema.field("tags").type == pa.list_(pa.large_string())


def test_sql_in_every_output(sandbox: Sandbox, tmp_path) -> None:
    client = make_client(sandbox, mirror_dir=tmp_path)
    query = "SELECT name, pct FROM vats ORDER BY pct"
    frame = client.sql(query)
    table = client.sql(query, output="arrow")
    polars_frame = client.sql(query, output="polars")
    assert isinstance(table, pa.Table) and isinstance(polars_frame, pl.DataFrame)
    assert table.to_pandas().equals(frame) and polars_frame.to_pandas().equals(frame)
    other = pl.DataFrame({"pct": [21.0], "label": ["high"]})
    joined = client.sql(
        "SELECT v.name, o.label FROM vats v JOIN other o ON o.pct = v.pct",
        frames={"other": other},
        output="polars",
    )
    assert joined["label"].to_list() == ["high"]
