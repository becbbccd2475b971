"""The request value: built once, read by fields, derived for what the fetcher adds."""

from __future__ import annotations

import pytest

from elfsquad_magic.core.request import ODataRequest, encode_query
from elfsquad_magic.errors import UsageError

GUID = "6f1c2c9e-7d2a-4c1b-9a53-0c5e3f6b8a01"


def test_a_query_string_on_the_path_becomes_options_in_order() -> None:
    request = ODataRequest.build("get", "/data/1/features?$top=5&$filter=name eq 'A&B'", {"x": 1})
    assert request.method == "GET"
    assert request.path == "/data/1/features"
    assert request.options == (("$top", "5"), ("$filter", "name eq 'A&B'"), ("x", "1"))


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(UsageError, match="Unknown method 'FETCH'"):
        ODataRequest.build("FETCH", "/data/1/features")


@pytest.mark.parametrize(
    ("path", "entity_set", "key", "collection"),
    [
        ("/data/1/features", "features", None, True),
        ("/data/1/Features/", "Features", None, True),
        (f"/data/1/features({GUID})", "features", GUID, False),
        (f"/data/1/features/{GUID}", "features", GUID, False),
        (f"https://api.elfsquad.io/data/1/quotations({GUID})", "quotations", GUID, False),
        ("/data/1/$metadata", None, None, False),
        (f"/data/1/quotations({GUID})/quotationLines", None, None, False),
        ("/quotation/1/quotations", None, None, False),
    ],
)
def test_the_entity_set_and_key_are_read_from_the_path(
    path: str, entity_set: str | None, key: str | None, collection: bool
) -> None:
    request = ODataRequest.build("GET", path)
    assert (request.entity_set, request.key, request.is_data_collection) == (
        entity_set,
        key,
        collection,
    )


def test_options_are_found_in_any_casing() -> None:
    request = ODataRequest.build("GET", "/data/1/features", [("$Select", "name, id")])
    assert request.option("$select") == "name, id"
    assert request.selected == ["name", "id"]
    assert request.has_any_option({"$select"}) and not request.has_any_option({"$top"})


@pytest.mark.parametrize("select", ["*", "category/name", "name,*"])
def test_select_of_paths_or_stars_names_no_plain_columns(select: str) -> None:
    assert ODataRequest.build("GET", "/data/1/x", {"$select": select}).selected is None


def test_derived_requests_leave_the_written_one_unchanged() -> None:
    written = ODataRequest.build("GET", "/data/1/features", {"$orderby": "name", "$top": "3"})
    sent = written.with_options(("$count", "true")).without_options("$TOP")
    assert written.options == (("$orderby", "name"), ("$top", "3"))
    assert sent.options == (("$orderby", "name"), ("$count", "true"))
    assert written.url("https://h") == "https://h/data/1/features?$orderby=name&$top=3"


def test_str_shows_the_request_decoded() -> None:
    request = ODataRequest.build("GET", "/data/1/features", {"$filter": "name eq 'a b'"})
    assert str(request) == "GET /data/1/features?$filter=name eq 'a b'"
    assert request.query == "$filter=name%20eq%20'a%20b'"


def test_values_are_encoded_for_odata_not_for_forms() -> None:
    assert encode_query([("$filter", "a+b eq 'x&y'"), ("flag", True)]) == (
        "$filter=a%2Bb%20eq%20'x%26y'&flag=true"
    )
