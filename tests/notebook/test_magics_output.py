"""`--output` and `%config ElfsquadMagic.output` in an IPython shell: the cell's result (and
``-o``) is a polars frame or an Arrow table, from a query, a sync and SQL."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from clients import export_login
from IPython.utils.capture import capture_output

from elfsquad_magic.errors import UsageError


@pytest.fixture
def shell(ip, sandbox, monkeypatch, tmp_path):
    export_login(monkeypatch, sandbox)
    ip.run_line_magic("config", f"ElfsquadMagic.mirror_dir = {str(tmp_path)!r}")
    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
    return ip


def cell(ip, line: str, body: str = "", magic: str = "elfsquad"):
    with capture_output():
        if not body:
            return ip.run_line_magic(magic, line)
        return ip.run_cell_magic(magic, line, body)


def test_output_per_cell_and_in_the_variable(shell) -> None:
    frame = cell(shell, "--output polars -o vats GET /data/1/Vats")
    assert isinstance(frame, pl.DataFrame) and shell.user_ns["vats"] is frame
    table = cell(shell, "--output arrow GET /data/1/Vats", "$select=name,pct\n")
    assert isinstance(table, pa.Table) and table.column_names == ["name", "pct"]
    assert isinstance(cell(shell, "GET /data/1/Vats"), pd.DataFrame)  # the setting: pandas


def test_the_setting_applies_at_the_next_cell(shell) -> None:
    shell.run_line_magic("config", 'ElfsquadMagic.output = "arrow"')
    assert isinstance(cell(shell, "GET /data/1/Vats"), pa.Table)
    assert isinstance(cell(shell, "--sync GET /data/1/Vats"), pa.Table)
    assert isinstance(cell(shell, "", "SELECT * FROM vats", magic="elfsquad_sql"), pa.Table)
    assert isinstance(cell(shell, "--output pandas GET /data/1/Vats"), pd.DataFrame)
    shell.run_line_magic("config", 'ElfsquadMagic.output = "pandas"')
    assert isinstance(cell(shell, "GET /data/1/Vats"), pd.DataFrame)


def test_sql_over_a_polars_frame_of_the_notebook(shell) -> None:
    shell.user_ns["rates"] = pl.DataFrame({"pct": [21.0, 9.0], "label": ["high", "low"]})
    result = cell(
        shell,
        "--output polars -o joined",
        "SELECT v.name, r.label FROM vats v JOIN rates r ON r.pct = v.pct ORDER BY v.pct",
        magic="elfsquad_sql",
    )
    assert isinstance(result, pl.DataFrame) and result["label"].to_list() == ["low", "high"]


def test_an_unknown_output_and_raw_are_refused(shell) -> None:
    with pytest.raises(UsageError, match="invalid choice"):
        cell(shell, "--output excel GET /data/1/Vats")
    with pytest.raises(UsageError, match="--raw and --output"):
        cell(shell, "--raw --output arrow GET /data/1/Vats")
