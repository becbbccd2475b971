"""`%elfsquad --sync`, `%%elfsquad_sql` and `%elfsquad_mirror` in an IPython shell, against a
sandbox over HTTP, with the mirror in a folder of the test's own."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from clients import export_login
from IPython.utils.capture import capture_output

from elfsquad_magic.errors import InterpolationError, MirrorError, UsageError


@pytest.fixture
def shell(ip, fresh_sandbox, monkeypatch, tmp_path):
    export_login(monkeypatch, fresh_sandbox)
    ip.run_line_magic("config", f"ElfsquadMagic.mirror_dir = {str(tmp_path)!r}")
    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
    return ip


def line(ip, text: str):
    with capture_output() as captured:
        result = ip.run_line_magic("elfsquad", text)
    return result, captured.stdout


def sql(ip, body: str, options: str = ""):
    with capture_output() as captured:
        result = ip.run_cell_magic("elfsquad_sql", options, body)
    return result, captured.stdout


def test_sync_returns_the_whole_set_and_says_what_it_did(shell, fresh_sandbox, tmp_path) -> None:
    frame, said = line(shell, "--sync GET /data/1/QuotationLines")
    assert len(frame) == len(fresh_sandbox.rows("QuotationLines"))
    assert "read in full (first sync)" in said
    again, said = line(shell, "--sync -o lines GET /data/1/quotationlines")
    assert "0 changed, 0 new, 0 deleted" in said and "requests in" in said
    assert shell.user_ns["lines"] is again
    pd.testing.assert_frame_equal(again, frame)
    assert list(tmp_path.rglob("QuotationLines.parquet"))


def test_sync_as_a_cell_takes_select(shell) -> None:
    with capture_output():
        frame = shell.run_cell_magic("elfsquad", "--sync GET /data/1/features", "$select=name\n")
    assert list(frame.columns) == ["name"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("--sync GET /data/1/features?$filter=salesPrice gt 1", "takes no \\$filter"),
        ("--sync GET /data/1/features?$top=5", "%%elfsquad_sql"),
        ("--sync POST /data/1/features", "whole Data API entity set"),
        ("--sync GET /data/1/features(1)", "whole Data API entity set"),
        ("--sync GET /quotation/1/quotations", "whole Data API entity set"),
        ("--full GET /data/1/features", "go with --sync"),
        ("--sync --full --offline GET /data/1/features", "Use one of them"),
        ("--sync --limit 5 GET /data/1/features", "takes no --limit"),
        ("--sync --raw GET /data/1/features", "takes no --raw"),
    ],
)
def test_sync_refuses_what_it_cannot_do(shell, text, message) -> None:
    with pytest.raises(UsageError, match=message):
        line(shell, text)


def test_offline_works_logged_out_and_says_when_nothing_is_there(
    shell, fresh_sandbox, monkeypatch
) -> None:
    with pytest.raises(MirrorError, match="Sync it once while online"):
        line(shell, "--sync --offline GET /data/1/Features")
    online, _ = line(shell, "--sync GET /data/1/Features")
    with capture_output():
        shell.run_line_magic("elfsquad_logout", "")
    fresh_sandbox.stop()
    offline, said = line(shell, "--sync --offline GET /data/1/features")
    assert "from the mirror" in said
    pd.testing.assert_frame_equal(offline, online)


def test_sql_joins_sets_named_in_any_casing(shell, fresh_sandbox) -> None:
    shell.user_ns["least"] = 2
    result, said = sql(
        shell,
        "SELECT f.name, sum(l.quantity) AS quantity, '{{least}}' AS text\n"
        "FROM quotationlines l JOIN Features f ON f.id = l.featureId\n"
        "WHERE l.quantity >= {{least}} -- {{not_a_variable}}\n"
        "GROUP BY f.name ORDER BY quantity DESC, f.name",
        "-o totals",
    )
    assert "QuotationLines:" in said and "Features:" in said  # each set synced first
    lines = pd.DataFrame(fresh_sandbox.rows("QuotationLines"))
    features = pd.DataFrame(fresh_sandbox.rows("Features"))
    joined = lines[lines.quantity >= 2].merge(features, left_on="featureId", right_on="id")
    expected = joined.groupby("name", dropna=False).quantity.sum()
    assert len(result) == len(expected)
    named = result.dropna(subset=["name"])
    assert dict(zip(named["name"], named["quantity"], strict=True)) == pytest.approx(
        expected[expected.index.notna()].to_dict()
    )
    assert result["quantity"].sum() == pytest.approx(expected.sum())
    assert set(result["text"]) == {"{{least}}"}  # inside a string it stays text
    assert shell.user_ns["totals"] is result


def test_a_placeholder_is_a_parameter_never_sql(shell) -> None:
    shell.user_ns["name"] = "x' OR '1'='1"
    result, _ = sql(shell, "SELECT count(*) AS n FROM features WHERE name = {{name}}")
    assert result["n"].iloc[0] == 0
    with pytest.raises(InterpolationError, match="no variable named 'missing'"):
        sql(shell, "SELECT * FROM features WHERE name = {{missing}}")


def test_sql_offline_reads_without_syncing(shell, fresh_sandbox) -> None:
    line(shell, "--sync GET /data/1/features")
    rows = len(fresh_sandbox.rows("Features"))
    fresh_sandbox.stop()
    result, said = sql(shell, "SELECT count(*) AS n FROM FEATURES", "--offline")
    assert result["n"].iloc[0] == rows
    assert said == ""


def test_sql_can_join_a_notebook_frame(shell) -> None:
    shell.user_ns["wanted"] = pd.DataFrame({"code": ["nothing-like-this"]})
    result, _ = sql(shell, "SELECT count(*) AS n FROM features f JOIN wanted w ON w.code = f.name")
    assert result["n"].iloc[0] == 0


def test_sql_errors_are_short(shell) -> None:
    with pytest.raises(UsageError, match="DuckDB: .*nosuchtable"):
        sql(shell, "SELECT * FROM nosuchtable", "--offline")
    with pytest.raises(UsageError, match="DuckDB: Parser Error"):
        sql(shell, "SELEC 1", "--offline")
    with pytest.raises(UsageError, match="no SQL"):
        sql(shell, "  \n", "--offline")


def test_a_misspelt_column_gets_a_hint_about_columns(shell) -> None:
    sql(shell, "SELECT count(*) FROM features")  # synced once
    with pytest.raises(UsageError, match='DuckDB: .*"nme".*Candidate bindings') as caught:
        sql(shell, "SELECT nme FROM features", "--offline")
    assert "%elfsquad_describe" in caught.value.hint and "Tables are" not in caught.value.hint


def test_without_duckdb_the_error_names_the_extra(shell, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(UsageError, match=r"elfsquad-magic\[sql\]"):
        sql(shell, "SELECT 1", "--offline")


def test_mirror_lists_and_drops(shell) -> None:
    line(shell, "--sync GET /data/1/features")
    line(shell, "--sync GET /data/1/vats")
    with capture_output():
        listing = shell.run_line_magic("elfsquad_mirror", "")
    assert list(listing["entity_set"]) == ["Features", "Vats"]
    assert (listing["rows"] > 0).all() and (listing["size_mb"] > 0).all()
    assert listing["watermark"].notna().all() and listing["last_sync"].notna().all()
    with capture_output() as captured:
        shell.run_line_magic("elfsquad_mirror", "--drop vats")
    assert "Dropped the mirror of Vats" in captured.stdout
    with capture_output():
        listing = shell.run_line_magic("elfsquad_mirror", "")
    assert list(listing["entity_set"]) == ["Features"]
    with pytest.raises(UsageError, match="no mirror of Vats"):
        shell.run_line_magic("elfsquad_mirror", "--drop Vats")


def test_mirror_dir_comes_from_the_environment(ip, fresh_sandbox, monkeypatch, tmp_path) -> None:
    export_login(monkeypatch, fresh_sandbox)
    monkeypatch.setenv("ELFSQUAD_MIRROR_DIR", str(tmp_path / "from-env"))
    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
        ip.run_line_magic("elfsquad", "--sync GET /data/1/vats")
    assert list((tmp_path / "from-env").rglob("Vats.parquet"))
