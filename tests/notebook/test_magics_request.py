"""`%%elfsquad` and `%elfsquad` against the sandbox over real HTTP: options, results, errors."""

from __future__ import annotations

import pandas as pd
import pytest
from clients import export_login
from IPython.utils.capture import capture_output

from elfsquad_magic.errors import (
    BadRequestError,
    ElfsquadError,
    InterpolationError,
    NotFoundError,
    UsageError,
)


@pytest.fixture
def logged_in(ip, sandbox_env):
    """The test shell logged in to the shared (read-only) sandbox."""
    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
    return ip


@pytest.fixture
def writable(ip, fresh_sandbox, monkeypatch):
    """The test shell logged in to a private sandbox that tests may write to."""
    export_login(monkeypatch, fresh_sandbox)
    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
    return ip


def rows(sandbox, entity_set: str) -> list[dict]:
    """The sandbox's stored rows of an entity set (its own view, not over HTTP)."""
    return sandbox.rows(entity_set)


def cell(ip, line: str, body: str = ""):
    """Run a %%elfsquad cell; returns the magic's result."""
    with capture_output():
        return ip.run_cell_magic("elfsquad", line, body)


# -- GET --------------------------------------------------------------------------------------


def test_get_follows_every_page_to_the_last_row(logged_in, sandbox) -> None:
    frame = cell(logged_in, "GET /data/1/quotationlines", "$select=id,quantity\n")
    expected = [r["id"] for r in rows(sandbox, "QuotationLines")]
    assert len(expected) > 1000  # more than two 500-row pages
    assert frame["id"].is_unique
    assert sorted(frame["id"]) == sorted(expected)
    assert list(frame.columns) == ["id", "quantity"]
    info = frame.attrs["elfsquad"]
    assert info["pages"] == -(-len(expected) // 500)


def test_body_options_filter_select_and_order(logged_in, sandbox) -> None:
    frame = cell(
        logged_in,
        "GET /data/1/quotationlines",
        """
        # lines with a large quantity, biggest first
        $filter=quantity gt 3 and discountPct eq 0

        $select=id,quantity,discountPct
        $orderby=quantity desc,id
        """.replace("        ", ""),
    )
    expected = [
        r for r in rows(sandbox, "QuotationLines") if r["quantity"] > 3 and r["discountPct"] == 0
    ]
    expected.sort(key=lambda r: r["id"])
    expected.sort(key=lambda r: r["quantity"], reverse=True)
    assert list(frame["id"]) == [r["id"] for r in expected]
    assert list(frame.columns) == ["id", "quantity", "discountPct"]


def test_line_magic_takes_a_query_string(logged_in, sandbox) -> None:
    logged_in.run_cell("features = %elfsquad GET /data/1/features?$top=10&$select=id,name")
    features = logged_in.user_ns["features"]
    assert isinstance(features, pd.DataFrame)
    assert len(features) == 10
    assert list(features.columns) == ["id", "name"]


def test_method_defaults_to_get(logged_in) -> None:
    frame = logged_in.run_line_magic("elfsquad", "/data/1/categories?$select=name")
    assert len(frame) == 12


def test_out_stores_the_result_as_well(logged_in) -> None:
    frame = cell(logged_in, "-o cats GET /data/1/categories", "$select=id,name")
    assert logged_in.user_ns["cats"] is frame
    cell(logged_in, "--out cats2 /data/1/categories", "$top=2")
    assert len(logged_in.user_ns["cats2"]) == 2


def test_limit_stops_after_n_rows(logged_in) -> None:
    frame = cell(logged_in, "--limit 730 GET /data/1/quotationlines", "$select=id")
    assert len(frame) == 730
    assert frame["id"].is_unique


def test_no_paginate_takes_the_first_page(logged_in) -> None:
    frame = cell(logged_in, "--no-paginate GET /data/1/quotationlines", "$select=id")
    assert len(frame) == 500
    assert frame.attrs["elfsquad"]["pages"] == 1


def test_raw_returns_the_parsed_json(logged_in) -> None:
    data = cell(logged_in, "--raw GET /data/1/categories", "$select=name\n$orderby=order\n$top=3")
    assert isinstance(data, dict)
    assert [item["name"] for item in data["value"]] == ["Frames", "Wheels & Tyres", "Drivetrain"]


def test_options_combine_on_the_line(logged_in) -> None:
    frame = logged_in.run_line_magic(
        "elfsquad", "-o q --limit 3 --no-progress --concurrency 2 /data/1/quotations?$select=id"
    )
    assert len(frame) == 3
    assert logged_in.user_ns["q"] is frame


def test_single_entity_is_a_one_row_frame(logged_in, sandbox) -> None:
    first = rows(sandbox, "Features")[0]
    frame = logged_in.run_line_magic("elfsquad", f"GET /data/1/features({first['id']})")
    assert len(frame) == 1
    assert frame["name"].iloc[0] == first["name"]


# -- interpolation and IPython's own expansion ------------------------------------------------


def test_double_braces_put_a_python_value_in_the_filter(logged_in) -> None:
    logged_in.user_ns["category"] = "Wheels & Tyres"
    frame = cell(logged_in, "GET /data/1/categories", "$filter=name eq {{category}}")
    assert list(frame["name"]) == ["Wheels & Tyres"]


def test_a_hostile_string_stays_inside_the_literal(logged_in) -> None:
    logged_in.user_ns["hostile"] = "x' or 1 eq 1 or name eq 'y"
    frame = cell(logged_in, "GET /data/1/categories", "$filter=name eq {{hostile}}")
    assert len(frame) == 0
    logged_in.user_ns["hostile"] = "x' or 1 eq 1"
    frame = cell(logged_in, "GET /data/1/categories", "$filter=name eq {{hostile}}")
    assert len(frame) == 0


def test_quotes_in_a_value_are_doubled(logged_in) -> None:
    logged_in.user_ns["paint"] = 'Paint "Premium"'
    frame = logged_in.run_line_magic(
        "elfsquad", "GET /data/1/categories?$filter=name eq {{paint}}&$select=name"
    )
    assert list(frame["name"]) == ['Paint "Premium"']


def test_dollar_and_single_braces_are_not_expanded_by_ipython(logged_in) -> None:
    # Were IPython to expand them, $filter would become this variable's value.
    logged_in.user_ns["filter"] = "SHOULD-NOT-APPEAR"
    logged_in.user_ns["top"] = 1
    frame = logged_in.run_cell(
        "%elfsquad GET /data/1/categories?$filter=name eq 'Frames'&$select=name"
    ).result
    assert list(frame["name"]) == ["Frames"]
    with pytest.raises(ElfsquadError):
        # {top} reaches the server as written (and is rejected there), not as "1".
        logged_in.run_line_magic("elfsquad", "GET /data/1/categories?$top={top}")


def test_unknown_placeholder_names_the_variable(logged_in) -> None:
    with pytest.raises(InterpolationError) as info:
        cell(logged_in, "GET /data/1/categories", "$filter=name eq {{no_such_name}}")
    assert "no_such_name" in str(info.value)


# -- writes -----------------------------------------------------------------------------------


def test_post_patch_delete_round_trip(writable, fresh_sandbox) -> None:
    ip = writable
    created = cell(ip, "POST /data/1/categories", '{"name": "Created by a cell", "order": 99}')
    assert created["name"].iloc[0] == "Created by a cell"
    new_id = created["id"].iloc[0]
    assert any(r["id"] == new_id for r in rows(fresh_sandbox, "Categories"))

    ip.user_ns["new_name"] = "Renamed"
    cell(ip, f"PATCH /data/1/categories({new_id})", '{"name": {{new_name}}}')
    [stored] = [r for r in rows(fresh_sandbox, "Categories") if r["id"] == new_id]
    assert stored["name"] == "Renamed"

    with capture_output() as cap:
        result = ip.run_line_magic("elfsquad", f"DELETE /data/1/categories({new_id})")
    assert result is None
    assert "204" in cap.stdout
    assert not any(r["id"] == new_id for r in rows(fresh_sandbox, "Categories"))


def test_json_var_sends_a_python_value(writable, fresh_sandbox) -> None:
    ip = writable
    ip.user_ns["body"] = {"name": "From a dict", "order": 5}
    # A cell magic needs a body, so --json goes with the line magic.
    created = ip.run_line_magic("elfsquad", "--json body POST /data/1/categories")
    assert created["name"].iloc[0] == "From a dict"
    assert any(r["name"] == "From a dict" for r in rows(fresh_sandbox, "Categories"))


def test_bad_json_body_is_refused_before_sending(writable, fresh_sandbox) -> None:
    before = len(rows(fresh_sandbox, "Categories"))
    with pytest.raises(UsageError):
        cell(writable, "POST /data/1/categories", '{"name": "unterminated}')
    assert len(rows(fresh_sandbox, "Categories")) == before


def test_json_var_that_does_not_exist_is_named(writable) -> None:
    with pytest.raises(InterpolationError) as info:
        writable.run_line_magic("elfsquad", "--json nothing_here POST /data/1/categories")
    assert "nothing_here" in str(info.value)


# -- errors -----------------------------------------------------------------------------------


def test_unknown_entity_set_is_a_short_404(logged_in) -> None:
    logged_in.user_ns["kept"] = 123
    with capture_output():
        result = logged_in.run_cell("kept = %elfsquad GET /data/1/nosuchset", store_history=True)
    assert isinstance(result.error_in_exec, NotFoundError)
    text = "\n".join(result.error_in_exec._render_traceback_())
    assert "404" in text and "/data/1/nosuchset" in text
    assert "Traceback" not in text
    assert logged_in.user_ns["kept"] == 123


def test_bad_filter_is_a_400_with_the_server_message(logged_in) -> None:
    logged_in.user_ns["frame"] = "untouched"
    with pytest.raises(BadRequestError) as info:
        cell(logged_in, "-o frame GET /data/1/categories", "$filter=name eq eq")
    assert "400" in str(info.value)
    assert logged_in.user_ns["frame"] == "untouched"


def test_malformed_line_gets_the_usage(logged_in) -> None:
    for line in ("--limit many /data/1/features", "--nope /data/1/features", "-o 2x /x", ""):
        with pytest.raises(UsageError) as info:
            logged_in.run_line_magic("elfsquad", line)
        assert "%elfsquad" in str(info.value) or "Usage" in str(info.value)
    with pytest.raises(UsageError):
        logged_in.run_line_magic("elfsquad", "FETCH /data/1/features")


def test_errors_render_without_a_traceback(logged_in) -> None:
    with capture_output() as cap:
        logged_in.run_cell("%elfsquad --limit many /data/1/features")
    assert "UsageError" in cap.stdout
    assert "Traceback" not in cap.stdout and "magics.py" not in cap.stdout


def test_not_logged_in_says_what_to_do(ip) -> None:
    with pytest.raises(ElfsquadError) as info:
        ip.run_line_magic("elfsquad", "GET /data/1/features")
    assert "%elfsquad_login" in str(info.value)


# -- help -------------------------------------------------------------------------------------


def test_cell_magic_help_lists_every_option(ip) -> None:
    with capture_output() as cap:
        ip.run_cell("%%elfsquad?")
    for option in (
        "-o NAME, --out NAME",
        "--limit N",
        "--no-paginate",
        "--raw",
        "--json VAR",
        "--concurrency N",
        "--no-progress",
        "{{name}}",
    ):
        assert option in cap.stdout


def test_expired_token_is_renewed_and_the_query_completes(writable, fresh_sandbox) -> None:
    fresh_sandbox.expire_tokens()
    frame = writable.run_line_magic("elfsquad", "GET /data/1/categories?$select=id")
    assert len(frame) == len(rows(fresh_sandbox, "Categories"))
    assert len(fresh_sandbox.issued_tokens) == 2


# -- exploring --------------------------------------------------------------------------------


def test_entities_magic_lists_the_entity_sets(logged_in) -> None:
    frame = logged_in.run_line_magic("elfsquad_entities", "")
    assert {"Features", "Quotations", "QuotationLines"} <= set(frame["name"])


def test_describe_magic_lists_properties(logged_in) -> None:
    frame = logged_in.run_line_magic("elfsquad_describe", "features")
    assert {"name", "salesPrice", "createdDate"} <= set(frame["name"])


def test_describe_magic_needs_a_set_name(logged_in) -> None:
    with pytest.raises(UsageError) as info:
        logged_in.run_line_magic("elfsquad_describe", "")
    assert "%elfsquad_describe" in str(info.value)


def test_completer_is_installed_and_removed_with_the_extension(ip) -> None:
    handle = ip.magics_manager.registry["ElfsquadMagic"].completer_handle
    assert handle is not None
    assert handle.matcher in ip.Completer.custom_matchers
    ip.run_line_magic("unload_ext", "elfsquad_magic")
    try:
        assert handle.matcher not in ip.Completer.custom_matchers
    finally:
        ip.run_line_magic("load_ext", "elfsquad_magic")


def test_a_cell_magic_with_nothing_below_runs_as_the_line_magic(ip, sandbox_env) -> None:
    ip.run_line_magic("elfsquad_login", "")
    result = ip.run_cell("%%elfsquad GET /data/1/vats\n")
    assert result.error_in_exec is None and result.error_before_exec is None
    assert len(result.result) == len(sandbox_env.rows("Vats"))
    blank = ip.run_cell("%%elfsquad GET /data/1/vats?$top=2\n   \n")
    assert len(blank.result) == 2
    with_body = ip.run_cell("%%elfsquad GET /data/1/vats\n$top=1")
    assert len(with_body.result) == 1  # a real body is untouched


def test_in_a_terminal_enter_after_a_cell_magic_line_continues_the_cell(ip) -> None:
    """Terminal IPython asks check_complete whether Enter runs the input: a ``%%elfsquad``
    line alone is an open cell until a blank line, as for any cell magic."""
    check = ip.input_transformer_manager.check_complete
    assert check("%%elfsquad GET /data/1/features\n")[0] == "incomplete"
    assert check("%%elfsquad GET /data/1/features\n$select=name\n")[0] == "incomplete"
    assert check("%%elfsquad GET /data/1/features\n$select=name\n\n")[0] == "complete"
    assert check("%elfsquad GET /data/1/features\n")[0] == "complete"


def test_the_transformer_leaves_other_cells_alone() -> None:
    from elfsquad_magic.notebook.magics import bodyless_cell_as_line

    assert bodyless_cell_as_line(["%%elfsquad GET /x\n"]) == ["%elfsquad GET /x\n"]
    assert bodyless_cell_as_line(["  %%elfsquad -o a GET /x"]) == ["  %elfsquad -o a GET /x"]
    for lines in (
        ["%%elfsquad GET /x\n", "$top=1\n"],
        ["%%elfsquad_sql\n"],
        ["%%time\n"],
        ["x = 1\n"],
        [],
    ):
        assert bodyless_cell_as_line(list(lines)) == lines
