"""The entity-set and property listings match the service's $metadata and its data."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import pytest
import requests
from clients import get_token, logged_in_client

from elfsquad_magic.client import ElfsquadClient
from elfsquad_magic.core.schema import ServiceSchema
from elfsquad_magic.errors import ElfsquadError, NotFoundError
from elfsquad_magic.notebook.explore import describe_frame, dtype_for, entities_frame
from elfsquad_magic.sandbox import Sandbox


@pytest.fixture(scope="module")
def token(sandbox: Sandbox) -> str:
    return get_token(sandbox)


@pytest.fixture(scope="module")
def client(sandbox: Sandbox) -> ElfsquadClient:
    return logged_in_client(sandbox)


def test_entities_frame_lists_every_entity_set_of_metadata(
    client: ElfsquadClient, metadata: ServiceSchema
) -> None:
    frame = entities_frame(client)
    assert list(frame.columns) == ["name", "key", "properties", "navigation"]
    assert sorted(frame["name"]) == sorted(metadata.entity_sets)
    for row in frame.itertuples():
        entity_set = metadata.entity_sets[row.name]
        assert row.key == ", ".join(entity_set.key)
        assert row.properties == len(entity_set.properties)
        navigation = row.navigation.split(", ") if row.navigation else []
        assert navigation == list(entity_set.navigation)
    assert frame["properties"].dtype == "int64"


def test_entities_count_matches_the_rows_each_set_holds(
    client: ElfsquadClient, sandbox: Sandbox, token: str
) -> None:
    started = time.monotonic()
    frame = entities_frame(client, count=True)
    elapsed = time.monotonic() - started
    assert str(frame["rows"].dtype) == "Int64"
    counts = dict(zip(frame["name"], frame["rows"], strict=True))
    headers = {"Authorization": f"Bearer {token}"}
    for name in ("Features", "Quotations", "QuotationLines", "CrmAccounts"):
        answer = requests.get(
            f"{sandbox.api_url}/data/1/{name}",
            params={"$count": "true", "$top": "0"},
            headers=headers,
            timeout=10,
        )
        assert counts[name] == answer.json()["@odata.count"]
    assert frame["rows"].notna().all()
    assert frame["rows"].sum() > 0
    assert elapsed < 30


def test_entities_count_stops_at_the_first_failure(fresh_sandbox: Sandbox) -> None:
    client = logged_in_client(fresh_sandbox, retry_seconds=0)
    client.schema()
    fresh_sandbox.stop()  # every count now fails to connect
    started = time.monotonic()
    with pytest.raises(ElfsquadError):
        entities_frame(client, count=True)
    assert time.monotonic() - started < 10


def test_describe_frame_lists_properties_and_navigation_of_metadata(
    client: ElfsquadClient, metadata: ServiceSchema
) -> None:
    frame = describe_frame(client, "quotationlines")  # any casing
    lines = metadata.entity_sets["QuotationLines"]
    assert list(frame.columns) == ["name", "edm_type", "dtype", "nullable", "key", "target"]
    assert list(frame["name"]) == [*lines.properties, *lines.navigation]
    by_name = frame.set_index("name")
    for prop in lines.properties.values():
        row = by_name.loc[prop.name]
        expected_type = f"Collection({prop.edm_type})" if prop.is_collection else prop.edm_type
        assert row["edm_type"] == expected_type
        assert bool(row["nullable"]) == prop.nullable
        assert bool(row["key"]) == (prop.name in lines.key)
        assert row["target"] is None
    for nav in lines.navigation.values():
        assert by_name.loc[nav.name, "target"] == nav.target_set
        assert by_name.loc[nav.name, "dtype"] == "object"
    assert frame.loc[frame["key"], "name"].tolist() == list(lines.key)


@pytest.mark.parametrize("entity_set", ["Features", "Quotations", "QuotationLines"])
def test_described_dtypes_are_the_dtypes_a_query_returns(
    client: ElfsquadClient, entity_set: str
) -> None:
    described = describe_frame(client, entity_set).set_index("name")["dtype"]
    data = client.request("GET", f"/data/1/{entity_set}", params=[("$top", "200")])
    assert isinstance(data, pd.DataFrame) and len(data)
    compared = 0
    for column in data.columns:
        if column not in described.index:
            continue
        actual = str(data[column].dtype)
        if data[column].isna().any():
            # With nulls the default backend widens ints and bools to nullable dtypes.
            nullable = {"int64": "Int64", "bool": "boolean"}
            assert actual in (described[column], nullable.get(described[column])), column
        else:
            assert actual == described[column], column
        compared += 1
    assert compared >= 5


def test_dtype_for_follows_the_dtype_backend() -> None:
    assert dtype_for("Edm.Int32") == "int64"
    assert dtype_for("Edm.Int32", dtype_backend="numpy_nullable") == "Int64"
    assert dtype_for("Edm.DateTimeOffset") == "datetime64[ns, UTC]"
    assert dtype_for("Edm.Guid", is_collection=True) == "object"


def test_describe_takes_a_path_as_well_as_a_name(client: ElfsquadClient) -> None:
    by_path = describe_frame(client, "/data/1/quotationlines?$top=5")
    assert by_path.equals(describe_frame(client, "QuotationLines"))


def test_unknown_entity_set_names_close_matches(client: ElfsquadClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        describe_frame(client, "Quotatoins")
    message = str(caught.value)
    assert "Quotatoins" in message
    assert "Did you mean" in message and "Quotations" in message
    assert "Traceback" not in "".join(caught.value._render_traceback_())


def test_magics_return_the_frames(ip: Any, sandbox_env: Sandbox) -> None:
    ip.run_line_magic("elfsquad_login", "")
    try:
        entities = ip.run_line_magic("elfsquad_entities", "")
        described = ip.run_line_magic("elfsquad_describe", "features")
    finally:
        ip.run_line_magic("elfsquad_logout", "")
    assert "Features" in set(entities["name"])
    assert "salesPrice" in set(described["name"])
