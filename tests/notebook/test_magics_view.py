"""`%elfsquad_view` in an IPython shell against the sandbox: the list, each view's options, the
tree and the chart it shows, --show-sql and --explain, -o, offline, and what it refuses."""

from __future__ import annotations

import pandas as pd
import pytest
from IPython.utils.capture import capture_output

from elfsquad_magic.errors import UsageError


@pytest.fixture
def shell(ip, sandbox_env, tmp_path):
    """The shell logged in to the shared (read-only) sandbox, with a mirror of the test's own."""
    ip.run_line_magic("config", f"ElfsquadMagic.mirror_dir = {str(tmp_path)!r}")
    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
    return ip


def view(ip, line: str):
    with capture_output() as captured:
        result = ip.run_line_magic("elfsquad_view", line)
    return result, captured


def test_the_list_needs_no_login(ip) -> None:
    listed, _ = view(ip, "--list")
    assert listed["view"].tolist() == [
        "model",
        "features",
        "quotations",
        "quotation_lines",
        "custom_fields",
        "bom",
        "dealer_prices",
    ]
    assert view(ip, "")[0].equals(listed)


def test_a_model_shows_its_tree_and_returns_its_nodes(shell, sandbox) -> None:
    nodes, captured = view(shell, "model Carbon 190 -o tree_nodes")
    assert shell.user_ns["tree_nodes"] is nodes and len(nodes) > 150
    shown = captured.outputs[0].data
    assert "<details" in shown["text/html"] and "├── " in shown["text/plain"]
    assert len(shown["text/plain"].splitlines()) == len(nodes)
    quiet, captured = view(shell, 'model "Carbon 190" --no-tree')
    assert not captured.outputs and quiet["nodeId"].tolist() == nodes["nodeId"].tolist()
    rules, captured = view(shell, 'model "Carbon 190" --constraints')
    assert not captured.outputs and set(rules["type"]) <= {
        "Required",
        "Excludes",
        "Implies",
        "Includes",
    }


def test_show_sql_prints_a_query_that_sql_magic_runs_to_the_same_rows(shell) -> None:
    frame, captured = view(shell, "quotations --currency EUR --show-sql")
    printed = captured.stdout
    assert "QUALIFY row_number()" in printed and "ExchangeRates" in printed
    last = printed.strip().split(";\n\n")[-1].rstrip(";")
    with capture_output():
        again = shell.run_cell_magic("elfsquad_sql", "", last)
    assert again["id"].tolist() == frame["id"].tolist()
    pd.testing.assert_series_equal(again["totalPriceEUR"], frame["totalPriceEUR"])


def test_explain_lists_the_steps_and_their_cost(shell) -> None:
    view(shell, "quotation_lines 100000")
    _, captured = view(shell, "quotation_lines 100000 --explain")
    out = captured.stdout
    assert out.startswith("The view quotation_lines:")
    assert "1. sync QuotationLines" in out and "0 changed, 0 new, 0 deleted" in out
    assert "Python: find the quotation '100000'" in out
    assert "16 requests to the service." in out


def test_view_options_reach_the_view(shell, sandbox) -> None:
    every, _ = view(shell, "quotations --all-revisions")
    assert len(every) == len(sandbox.rows("Quotations"))
    texts, _ = view(shell, "features --language nl")
    assert texts["text"].notna().any()
    fields, _ = view(shell, "custom_fields CrmAccounts --language nl")
    assert "Customer segment (NL)" in fields.columns
    lines, _ = view(shell, "quotation_lines --where \"status = 'Accepted'\"")
    assert set(lines["status"]) == {"Accepted"}
    bom, _ = view(shell, "bom --quotation 100000")
    assert bom["depth"].iloc[0] == 0
    prices, _ = view(shell, "dealer_prices --dealer 'Dealer 1 – Amsterdam'")
    assert set(prices["dealer"]) <= {"Dealer 1 – Amsterdam"}


def test_the_chart_is_shown_once(shell) -> None:
    import matplotlib

    matplotlib.use("Agg")
    frame, captured = view(shell, "quotations --currency EUR --chart value")
    assert len(captured.outputs) == 1 and isinstance(frame, pd.DataFrame)
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []  # closed after it was shown


def test_offline_reads_the_mirror_after_logout(shell) -> None:
    online, _ = view(shell, "dealer_prices")
    with capture_output():
        shell.run_line_magic("elfsquad_logout", "")
    offline, _ = view(shell, "dealer_prices --offline")
    pd.testing.assert_frame_equal(offline, online)
    assert offline.attrs["elfsquad"]["view"]["requests"] == 0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("modle Carbon", "Did you mean model"),
        ("quotations 100000", "takes no argument"),
        ("features --currency EUR", "--currency goes with quotations"),
        ("model x --chart", "--chart goes with quotations"),
        ("bom CFG-000001 --offline", "no offline copy"),
        ("quotations -o 1x", "Python variable name"),
        ("quotations --chart pie", "invalid choice"),
    ],
)
def test_what_the_magic_refuses(shell, line, message) -> None:
    with pytest.raises(UsageError, match=message):
        view(shell, line)


def test_output_polars_shows_the_tree_and_stores_a_polars_frame(shell, sandbox) -> None:
    import polars as pl

    model = sorted(sandbox.rows("FeatureModels"), key=lambda m: m["order"])[0]
    result, captured = view(shell, f"model {model['id']} --output polars -o nodes --explain")
    assert isinstance(result, pl.DataFrame) and shell.user_ns["nodes"] is result
    assert "sync" in captured.stdout and captured.outputs  # the steps, and the tree shown
    frame, _ = view(shell, f"model {model['id']} --offline")
    assert isinstance(frame, pd.DataFrame)
    assert result["nodeId"].to_list() == frame["nodeId"].tolist()
    shell.run_line_magic("config", 'ElfsquadMagic.output = "arrow"')
    try:
        import pyarrow as pa

        assert isinstance(view(shell, "quotations")[0], pa.Table)
    finally:
        shell.run_line_magic("config", 'ElfsquadMagic.output = "pandas"')
