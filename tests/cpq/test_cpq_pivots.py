"""The features and custom_fields views against the sandbox: every stored property value in
its column, typed by its property's type, texts in a chosen language, dropdowns by their
field's text, compared with values read from the raw sets."""

from __future__ import annotations

import pandas as pd
import pytest
from cpq_expected import account_name, by_id, latest_quotations

from elfsquad_magic.errors import UsageError


def _feature_name(feature: dict) -> str:
    name = (feature["name"] or "").strip()
    return name or feature["articleCode"] or feature["id"]


def test_every_property_value_lands_in_its_typed_column(cpq_client, raw) -> None:
    frame = cpq_client.cpq.features().set_index("id")
    assert sorted(frame.index) == sorted(f["id"] for f in raw("Features"))
    props, features = by_id(raw("FeatureProperties")), by_id(raw("Features"))
    for prop in props.values():
        kind = frame[prop["name"]].dtype
        assert (kind == "float64") == (prop["type"] == "Input"), prop["name"]
    filled = 0
    for value in raw("FeatureHasFeatureProperties"):
        prop = props[value["featurePropertyId"]]
        cell = frame.at[value["featureId"], prop["name"]]
        if prop["type"] == "Input":
            assert cell == value["value"]
        elif prop["type"] == "Text":
            assert cell == value["textValue"]
        else:
            assert cell == _feature_name(features[value["associatedFeatureId"]])
        filled += 1
    assert filled == frame[[p["name"] for p in props.values()]].notna().sum().sum()


def test_texts_come_in_the_language_asked_for(cpq_client, raw) -> None:
    frame = cpq_client.cpq.features(language="NL").set_index("id")
    texts = {t["featureId"]: t["value"] for t in raw("FeatureTexts") if t["languageIso"] == "nl"}
    assert frame["text"].dropna().to_dict() == texts
    assert "text" not in cpq_client.cpq.features().columns


def test_an_unknown_language_names_the_languages(cpq_client) -> None:
    with pytest.raises(UsageError, match="There is no language 'xx'") as caught:
        cpq_client.cpq.features(language="xx")
    assert "'nl'" in caught.value.hint


def _expected_value(prop: dict, value: str, fields: dict) -> object:
    kind = prop["type"]
    if kind == "Dropdown":
        return fields[value]["description"]
    if kind == "Number":
        return float(value)
    if kind == "Boolean":
        return value == "true"
    return value


def test_quotation_custom_fields_show_dropdowns_by_their_text(cpq_client, raw) -> None:
    frame = cpq_client.cpq.custom_fields().set_index("id")
    latest = latest_quotations(raw)
    assert sorted(frame.index) == sorted(q["id"] for q in latest)
    props, fields = by_id(raw("QuotationProperties")), by_id(raw("QuotationPropertyFields"))
    checked = 0
    for stored in raw("QuotationPropertyValues"):
        if stored["entityId"] not in frame.index:
            continue  # an older revision's value
        prop = props[stored["entityPropertyId"]]
        cell = frame.at[stored["entityId"], prop["description"]]
        assert cell == _expected_value(prop, stored["value"], fields), prop["description"]
        checked += 1
    assert checked > 100
    dropdown = next(p["description"] for p in props.values() if p["type"] == "Dropdown")
    assert set(frame[dropdown].dropna()) <= {f["description"] for f in fields.values()}
    assert frame["Delivery week"].dtype == "float64"
    assert frame["Installation included"].dtype == "boolean"


def test_crm_custom_fields_in_dutch(cpq_client, raw) -> None:
    frame = cpq_client.cpq.custom_fields("crmaccounts", language="nl").set_index("id")
    accounts = by_id(raw("CrmAccounts"))
    assert sorted(frame.index) == sorted(accounts)
    assert frame.loc[list(accounts), "name"].tolist() == [
        account_name(a) for a in accounts.values()
    ]
    props = by_id(raw("CrmAccountProperties"))
    labels = {
        t["entityPropertyId"]: t["value"]
        for t in raw("EntityPropertyTexts")
        if t["languageIso"] == "nl" and t["entityPropertyId"] in props
    }
    field_texts = {
        t["entityPropertyFieldId"]: t["value"]
        for t in raw("CrmAccountPropertyFieldTexts")
        if t["languageIso"] == "nl"
    }
    for stored in raw("CrmAccountPropertyValues"):
        prop = props[stored["entityPropertyId"]]
        cell = frame.at[stored["entityId"], labels[prop["id"]]]
        if prop["type"] == "Dropdown":
            assert cell == field_texts[stored["value"]]
        elif prop["type"] == "Number":
            assert cell == float(stored["value"])
        else:
            assert cell == stored["value"]


def test_all_revisions_gives_every_quotation_its_own_values(cpq_client, raw) -> None:
    frame = cpq_client.cpq.custom_fields("Quotations", all_revisions=True)
    assert len(frame) == len(raw("Quotations"))
    assert frame.columns[:3].tolist() == ["quotationNumber", "versionNumber", "id"]


def test_an_unknown_entity_is_refused(cpq_client) -> None:
    with pytest.raises(UsageError, match="Quotations or CrmAccounts"):
        cpq_client.cpq.custom_fields("Features")


def test_no_values_is_a_row_of_empty_cells(cpq_client, raw) -> None:
    frame = cpq_client.cpq.custom_fields()
    with_values = {v["entityId"] for v in raw("QuotationPropertyValues")}
    empty = frame[~frame["id"].isin(with_values)]
    assert len(empty) and empty.iloc[:, 3:].isna().all().all()
    assert isinstance(frame, pd.DataFrame)
