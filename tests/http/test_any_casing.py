"""Names typed in any casing, as Elfsquad's own examples write them, give the service's names."""

from __future__ import annotations

import pandas as pd
from clients import make_client

from elfsquad_magic.notebook.explore import describe_frame


def test_pascal_case_options_give_camel_case_typed_columns(sandbox) -> None:
    client = make_client(sandbox)
    frame = client.get(
        "/data/1/Features",
        filter="SalesPrice gt 100 AND Contains(Name,'Lamp')",
        select="Name,SalesPrice,CreatedDate",
        orderby="SalesPrice desc",
    )
    expected = client.get(
        "/data/1/features",
        filter="salesPrice gt 100 and contains(name,'Lamp')",
        select="name,salesPrice,createdDate",
        orderby="salesPrice desc",
    )
    assert len(frame) > 0
    pd.testing.assert_frame_equal(frame, expected)
    assert str(frame["createdDate"].dtype) == "datetime64[ns, UTC]"
    assert frame["salesPrice"].dtype == "float64"


def test_an_empty_result_has_the_services_column_names(sandbox) -> None:
    client = make_client(sandbox)
    frame = client.get(
        "/data/1/features", filter="SalesPrice lt -1000000", select="Name,SalesPrice"
    )
    assert frame.empty and list(frame.columns) == ["name", "salesPrice"]


def test_expand_in_pascal_case(sandbox) -> None:
    client = make_client(sandbox)
    frame = client.get(
        "/data/1/QuotationLines", select="Id,FeatureId", expand="Feature($select=Name)", top=5
    )
    assert {"id", "featureId", "feature.name"} <= set(frame.columns)


def test_describe_shows_the_services_note_on_a_legacy_property(sandbox) -> None:
    client = make_client(sandbox)
    described = describe_frame(client, "QUOTATIONS").set_index("name")
    assert "Use the StatusId property instead" in described.loc["status", "note"]
    assert described.loc["statusId", "note"] is None
