"""Cell text -> ParsedRequest: the line, query options, JSON bodies and {{name}} interpolation."""

from __future__ import annotations

import datetime as dt
import math
import uuid

import pandas as pd
import pytest

from elfsquad_magic.errors import InterpolationError, UsageError
from elfsquad_magic.notebook.cell import parse_request

GUID = uuid.UUID("6f1c2b3a-0000-4000-8000-000000000001")


def parse(line: str, body: str = "", **namespace: object):
    return parse_request(line, body, namespace)


def test_method_defaults_to_get() -> None:
    request = parse("/data/1/features")
    assert (request.method, request.path, request.options, request.body) == (
        "GET",
        "/data/1/features",
        (),
        None,
    )


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "PUT", "DELETE", "get", "Patch"])
def test_known_methods_in_any_case(method: str) -> None:
    assert parse(f"{method} /data/1/features").method == method.upper()


def test_unknown_method_lists_the_known_ones() -> None:
    with pytest.raises(UsageError, match="GET, POST, PATCH, PUT, DELETE"):
        parse("FETCH /data/1/features")


@pytest.mark.parametrize("line", ["", "   ", "GET", "post"])
def test_missing_path_gives_usage(line: str) -> None:
    with pytest.raises(UsageError) as info:
        parse(line)
    assert "Usage" in str(info.value)


def test_path_with_a_space_is_refused() -> None:
    with pytest.raises(UsageError, match="space"):
        parse("GET /data/1/features $top=10")


def test_query_string_on_the_line_keeps_spaces_quotes_and_ampersands() -> None:
    request = parse("GET /data/1/features?$top=10&$filter=name eq 'A&B' and code ne 'x y'")
    assert request.path == "/data/1/features"
    assert list(request.options) == [("$top", "10"), ("$filter", "name eq 'A&B' and code ne 'x y'")]


def test_percent_encoded_query_from_a_pasted_url_is_decoded() -> None:
    request = parse("GET https://api.elfsquad.io/data/1/features?$filter=name%20eq%20%27a%27")
    assert request.path == "https://api.elfsquad.io/data/1/features"
    assert list(request.options) == [("$filter", "name eq 'a'")]


def test_body_options_one_per_line_with_comments_and_blanks() -> None:
    body = """
    # the expensive ones
    $filter=salesPrice gt 100

    $select=name,articleCode,salesPrice
    $orderby=salesPrice desc
    $top=5
    """
    request = parse("GET /data/1/features", body)
    assert list(request.options) == [
        ("$filter", "salesPrice gt 100"),
        ("$select", "name,articleCode,salesPrice"),
        ("$orderby", "salesPrice desc"),
        ("$top", "5"),
    ]


def test_a_custom_option_the_api_knows_passes_through() -> None:
    request = parse("GET /scim/2/Users", 'filter=userName eq "a b#c"\ncount=10')
    assert list(request.options) == [("filter", 'userName eq "a b#c"'), ("count", "10")]
    request = parse("GET /configurator/3/configurator/open/abc", "languageIso = nl")
    assert list(request.options) == [("languageIso", "nl")]


@pytest.mark.parametrize(
    "line",
    ["cheap_count = len(cheap)", "custom=a b", "total=frame.sum()"],
)
def test_a_python_line_in_a_get_cell_is_refused_quoting_it(line: str) -> None:
    """A stray line of Python would otherwise reach the service as a query parameter."""
    with pytest.raises(UsageError, match="Line 2 .*not a query option of this API") as caught:
        parse("GET /data/1/features", f"$filter=salesPrice gt 100\n{line}")
    assert repr(line) in caught.value.message
    assert "cell of its own" in caught.value.hint


def test_indented_line_continues_the_previous_option() -> None:
    body = "$filter=salesPrice gt 100\n    and name ne null\n$top=1"
    request = parse("GET /data/1/features", body)
    assert list(request.options) == [
        ("$filter", "salesPrice gt 100 and name ne null"),
        ("$top", "1"),
    ]


def test_body_line_without_equals_is_refused_with_its_number() -> None:
    with pytest.raises(UsageError, match="Line 2"):
        parse("GET /data/1/features", "$top=1\nsalesPrice gt 100")


def test_unknown_dollar_option_is_refused() -> None:
    with pytest.raises(UsageError, match=r"\$fliter"):
        parse("GET /data/1/features", "$fliter=a eq 1")


def test_option_given_twice_is_refused() -> None:
    with pytest.raises(UsageError, match="twice"):
        parse("GET /data/1/features?$top=1", "$top=2")


def test_unbalanced_quote_in_filter_is_refused() -> None:
    with pytest.raises(UsageError, match="unbalanced quote"):
        parse("GET /data/1/features", "$filter=name eq 'O'Brien'")


def test_json_body_on_get_is_refused() -> None:
    with pytest.raises(UsageError, match="not JSON"):
        parse("GET /data/1/features", '{"name": "x"}')


def test_json_value_on_get_or_delete_is_refused() -> None:
    with pytest.raises(UsageError, match="--json"):
        parse_request("DELETE /data/1/features", "", {}, json_value={"a": 1})


def test_filter_values_become_odata_literals() -> None:
    since = dt.datetime(2024, 1, 1)
    request = parse(
        "GET /data/1/quotations",
        "$filter=createdDate ge {{since}} and id eq {{ guid }} and name eq {{name}}"
        " and n gt {{n}} and ok eq {{ok}} and x eq {{nothing}} and code in {{codes}}",
        since=since,
        guid=GUID,
        name="O'Brien",
        n=1.5,
        ok=True,
        nothing=None,
        codes=["a", "b"],
    )
    assert list(request.options) == [
        (
            "$filter",
            f"createdDate ge 2024-01-01T00:00:00Z and id eq {GUID} and name eq 'O''Brien'"
            " and n gt 1.5 and ok eq true and x eq null and code in ('a','b')",
        )
    ]


@pytest.mark.parametrize(
    "hostile",
    ["' or 1 eq 1 or name eq '", "x') or (1 eq 1", "''", "'", "{{other}}", "a&b#c%20+"],
)
def test_hostile_strings_stay_inside_the_literal(hostile: str) -> None:
    request = parse("GET /data/1/features", "$filter=name eq {{value}}", value=hostile)
    escaped = hostile.replace("'", "''")
    assert list(request.options) == [("$filter", f"name eq '{escaped}'")]


def test_placeholder_inside_a_written_literal_is_only_escaped() -> None:
    request = parse(
        "GET /data/1/features",
        "$filter=contains(name, '{{part}}') and code eq 'X-{{n}}'",
        part="O'B",
        n=7,
    )
    assert list(request.options) == [("$filter", "contains(name, 'O''B') and code eq 'X-7'")]


def test_placeholders_elsewhere_are_plain_text() -> None:
    request = parse(
        "GET /data/1/features?$top={{n}}",
        "$select={{cols}}\n$orderby={{col}} desc",
        n=5,
        cols="name,salesPrice",
        col="name",
    )
    assert list(request.options) == [
        ("$top", "5"),
        ("$select", "name,salesPrice"),
        ("$orderby", "name desc"),
    ]


def test_placeholder_in_the_path_is_percent_encoded() -> None:
    request = parse("GET /data/1/quotations({{qid}})/x{{odd}}", qid=GUID, odd="a/b?c")
    assert request.path == f"/data/1/quotations({GUID})/xa%2Fb%3Fc"


def test_dotted_and_indexed_placeholders() -> None:
    class Row:
        id = GUID

    request = parse(
        "GET /data/1/features",
        "$filter=id eq {{row.id}} and name eq {{names[1]}} and code eq {{d['k']}}",
        row=Row(),
        names=["a", "b"],
        d={"k": "v"},
    )
    assert list(request.options) == [("$filter", f"id eq {GUID} and name eq 'b' and code eq 'v'")]


def test_unknown_name_is_named() -> None:
    with pytest.raises(InterpolationError, match="'since' is not defined"):
        parse("GET /data/1/features", "$filter=createdDate ge {{since}}")


def test_expression_in_placeholder_is_refused() -> None:
    with pytest.raises(InterpolationError, match="not a variable name"):
        parse("GET /data/1/features", "$top={{1 + 2}}", x=1)


def test_unsupported_value_in_filter_names_the_placeholder() -> None:
    with pytest.raises(InterpolationError, match=r"\{\{obj\}\}"):
        parse("GET /data/1/features", "$filter=a eq {{obj}}", obj=object())


def test_json_body_is_parsed_and_interpolated() -> None:
    body = """
    {"name": {{name}}, "price": {{price}}, "note": "made by {{name}}",
     "when": {{when}}, "id": {{guid}}, "tags": {{tags}}}
    """
    request = parse(
        "POST /data/1/features",
        body,
        name='Say "hi"\n',
        price=float("nan"),
        when=dt.datetime(2024, 1, 2, 3, 4, 5),
        guid=GUID,
        tags=["a", "b"],
    )
    assert request.body == {
        "name": 'Say "hi"\n',
        "price": None,
        "note": 'made by Say "hi"\n',
        "when": "2024-01-02T03:04:05Z",
        "id": str(GUID),
        "tags": ["a", "b"],
    }


def test_invalid_json_body_is_refused_before_sending() -> None:
    with pytest.raises(UsageError, match="not valid JSON.*line 1"):
        parse("PATCH /data/1/features(1)", "{'name': 'single quotes'}")


def test_empty_write_body_is_none() -> None:
    assert parse("POST /data/1/features/Default.Action", "  \n# nothing\n").body is None


def test_json_value_dataframe_becomes_records() -> None:
    frame = pd.DataFrame(
        {
            "name": ["a", None],
            "price": [1.5, math.nan],
            "when": pd.to_datetime(["2024-01-01", None], utc=True),
            "n": pd.array([1, None], dtype="Int64"),
        }
    )
    request = parse_request("POST /data/1/features/Default.BulkInsert", "", {}, json_value=frame)
    assert request.body == [
        {"name": "a", "price": 1.5, "when": "2024-01-01T00:00:00Z", "n": 1},
        {"name": None, "price": None, "when": None, "n": None},
    ]


def test_json_value_dict_is_sent_as_json() -> None:
    request = parse_request(
        "PATCH /data/1/quotations(1)", "", {}, json_value={"id": GUID, "d": dt.date(2024, 1, 1)}
    )
    assert request.body == {"id": str(GUID), "d": "2024-01-01"}


def test_json_value_with_a_cell_body_is_refused() -> None:
    with pytest.raises(UsageError, match="not both"):
        parse_request("POST /data/1/features", '{"a": 1}', {}, json_value={"a": 1})
