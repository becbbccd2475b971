"""Every CPQ view as pandas, polars or Arrow: the same columns and values whichever is asked
for (per call, or by the client's ``output`` setting), and the view's record kept with each."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from clients import make_client
from cpq_expected import nth_model

from elfsquad_magic.cpq.catalog import VIEWS
from elfsquad_magic.fetch.tables import info_of


def _calls(raw) -> dict[str, tuple]:
    """Each view's arguments, one of each kind of view."""
    configuration = sorted(raw("Configurations"), key=lambda c: c["code"])[0]["code"]
    return {
        "model": ((nth_model(raw, 0)["id"],), {}),
        "features": ((), {}),
        "quotations": ((), {}),
        "quotation_lines": ((), {}),
        "custom_fields": (("Quotations",), {}),
        "bom": ((configuration,), {}),
        "dealer_prices": ((), {}),
    }


def assert_same_rows(frame: pd.DataFrame, other: pd.DataFrame) -> None:
    """The same columns and values, compared as Python values (types differ by library)."""
    assert list(other.columns) == list(frame.columns)
    assert len(other) == len(frame)
    for name in frame.columns:
        ours = [None if _missing(v) else _plain(v) for v in frame[name]]
        theirs = [None if _missing(v) else _plain(v) for v in other[name]]
        assert ours == theirs, name


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _plain(value):
    if isinstance(value, pd.Timestamp):
        return value.value
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


@pytest.mark.parametrize("view", [view.name for view in VIEWS])
def test_every_view_gives_the_same_rows_in_every_output(cpq_client, raw, view) -> None:
    args, options = _calls(raw)[view]
    method = getattr(cpq_client.cpq, view)
    frame = method(*args, **options)
    table = method(*args, **options, output="arrow")
    polars_frame = method(*args, **options, output="polars")
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0
    assert isinstance(table, pa.Table) and isinstance(polars_frame, pl.DataFrame)
    # Compared with pandas built independently of the client's own conversion.
    assert_same_rows(frame, table.to_pandas())
    assert_same_rows(frame, polars_frame.to_pandas())
    assert polars_frame.equals(pl.from_arrow(table.replace_schema_metadata(None)))
    # The record of the run goes with each: attrs, schema metadata, the client's last_info.
    assert info_of(table)["view"]["name"] == view
    assert cpq_client.last_info["view"]["name"] == view
    assert cpq_client.cpq.explain(polars_frame).startswith(f"The view {view}")
    assert cpq_client.cpq.sql(polars_frame) == cpq_client.cpq.sql(frame)  # the same queries


def test_the_clients_output_setting_reaches_the_views(sandbox, raw, tmp_path) -> None:
    client = make_client(sandbox, mirror_dir=tmp_path, output="polars")
    try:
        quotations = client.cpq.quotations()
        model = client.cpq.model(nth_model(raw, 0)["id"])
        assert isinstance(quotations, pl.DataFrame) and isinstance(model, pl.DataFrame)
        assert "SELECT" in client.cpq.sql(model)  # the last view's record, from last_info
        same = client.cpq.quotations(output="pandas")
        assert_same_rows(same, quotations.to_pandas())
    finally:
        client.close()
