"""The ``features`` and ``custom_fields`` views: entity-attribute-value sets pivoted into
one column per property.

Which columns there are depends on the tenant (its ``FeatureProperties``, its quotation
properties), so a first query reads the properties and their types, and the pivot query is
written from them: one ``CASE`` per property, typed by the property's type. The query is
printed by ``--show-sql`` as it ran, with the ids in it, to be copied and adapted.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import UsageError
from .run import ViewRun, ident, literal, not_found

__all__ = [
    "CUSTOM_FIELD_ENTITIES",
    "FEATURE_SETS",
    "CustomFieldSets",
    "custom_fields_view",
    "features_view",
    "pivot_names",
]

FEATURE_SETS = ("Features", "FeatureProperties", "FeatureHasFeatureProperties")
_FEATURE_COLUMNS = ("name", "articleCode", "type", "salesPrice", "text", "id")


@dataclass(frozen=True)
class CustomFieldSets:
    """The sets of one kind of custom fields: the entity and its property trio."""

    entity: str
    properties: str
    fields: str
    values: str
    field_texts: str
    columns: str  # the entity's own columns, first in the view
    names: tuple[str, ...]  # their names
    order: str


CUSTOM_FIELD_ENTITIES = {
    "quotations": CustomFieldSets(
        "Quotations",
        "QuotationProperties",
        "QuotationPropertyFields",
        "QuotationPropertyValues",
        "QuotationPropertyFieldTexts",
        "e.quotationNumber, e.versionNumber, e.id",
        ("quotationNumber", "versionNumber", "id"),
        "e.quotationNumber, e.versionNumber",
    ),
    "crmaccounts": CustomFieldSets(
        "CrmAccounts",
        "CrmAccountProperties",
        "CrmAccountPropertyFields",
        "CrmAccountPropertyValues",
        "CrmAccountPropertyFieldTexts",
        "coalesce(e.companyName, concat_ws(' ', e.firstName, e.lastNamePrefix, e.lastName))"
        " AS name, e.customerReference, e.id",
        ("name", "customerReference", "id"),
        "name NULLS LAST, e.id",
    ),
}


def pivot_names(names: list[str], taken: tuple[str, ...]) -> list[str]:
    """Column names for the properties: their own, unless another column has it already."""
    out: list[str] = []
    used = {t.lower() for t in taken}
    for name in names:
        base = " ".join(str(name).split()) or "(unnamed)"
        candidate, count = base, 1
        while candidate.lower() in used:
            count += 1
            candidate = f"{base} ({count})"
        used.add(candidate.lower())
        out.append(candidate)
    return out


def _check_language(run: ViewRun, language: str, entity_set: str) -> str:
    languages = run.sql(
        f"the languages of {entity_set}",
        f"SELECT DISTINCT languageIso FROM {entity_set} WHERE languageIso IS NOT NULL ORDER BY 1",
    )["languageIso"].tolist()
    by_lower = {str(iso).lower(): str(iso) for iso in languages}
    if language.lower() not in by_lower:
        raise not_found("language", language, languages, f"{entity_set} has {languages}.")
    return by_lower[language.lower()]


def _feature_column(prop: pd.Series) -> str:
    """The aggregate that puts one property's values into its column, by its type."""
    match = f"v.featurePropertyId = {literal(prop['id'])}"
    kind = str(prop["type"]).lower()
    if kind == "input":
        return f"max(CASE WHEN {match} THEN v.value END)"
    if kind == "text":
        return f"string_agg(CASE WHEN {match} THEN v.textValue END, ', ' ORDER BY v.textValue)"
    if kind == "associatedfeatures":
        name = "coalesce(nullif(trim(a.name), ''), a.articleCode, a.id)"
        return f"string_agg(CASE WHEN {match} THEN {name} END, ', ' ORDER BY {name})"
    value = "coalesce(v.textValue, CAST(v.value AS VARCHAR), a.name)"
    return f"string_agg(CASE WHEN {match} THEN {value} END, ', ')"


def features_view(run: ViewRun, language: str | None = None) -> pd.DataFrame:
    """One row per feature, one column per ``FeatureProperty`` (numbers for ``Input``, text
    for ``Text``, the associated features' names for ``AssociatedFeatures``), and with a
    ``language`` the feature's text in it."""
    run.need(*FEATURE_SETS, *(("FeatureTexts",) if language else ()))
    if language:
        language = _check_language(run, language, "FeatureTexts")
    props = run.sql(
        "the feature properties and their types",
        "SELECT id, name, type FROM FeatureProperties ORDER BY name, id",
    )
    run.python("write one column per property, typed by the property's type")
    names = pivot_names(props["name"].tolist(), _FEATURE_COLUMNS)
    pivots = "".join(
        f",\n       {_feature_column(prop)} AS {ident(name)}"
        for name, (_, prop) in zip(names, props.iterrows(), strict=True)
    )
    text, texts = "", ""
    if language:
        text = ",\n       t.text"
        texts = f"""
LEFT JOIN (
    -- The feature's text in {language}: its Description first.
    SELECT featureId, first(value ORDER BY (type = 'Description') DESC, id) AS text
    FROM FeatureTexts WHERE languageIso = {literal(language)}
    GROUP BY featureId
) t ON t.featureId = f.id"""
    query = f"""
SELECT f.name, f.articleCode, f.type, f.salesPrice{text}{pivots},
       f.id
FROM Features f
LEFT JOIN FeatureHasFeatureProperties v ON v.featureId = f.id
LEFT JOIN Features a ON a.id = v.associatedFeatureId{texts}
GROUP BY ALL
ORDER BY f.name NULLS LAST, f.id"""
    return run.sql("the features with their properties as columns", query)


def _custom_column(prop: pd.Series) -> str:
    """The aggregate of one custom field's values, typed by the property's type."""
    match = f"v.entityPropertyId = {literal(prop['id'])}"
    kind = str(prop["type"]).lower()
    if kind in ("dropdown", "multiselect"):
        return f"max(CASE WHEN {match} THEN coalesce(fl.label, v.value) END)"
    if kind == "number":
        return f"max(CASE WHEN {match} THEN TRY_CAST(v.value AS DOUBLE) END)"
    if kind == "boolean":
        return f"bool_or(CASE WHEN {match} THEN TRY_CAST(v.value AS BOOLEAN) END)"
    if kind == "date":
        return f"max(CASE WHEN {match} THEN TRY_CAST(v.value AS TIMESTAMPTZ) END)"
    return f"max(CASE WHEN {match} THEN v.value END)"


def _entity_sets(entity: str) -> CustomFieldSets:
    key = entity.strip().lower().replace("_", "")
    key = {"quotation": "quotations", "crm": "crmaccounts", "crmaccount": "crmaccounts"}.get(
        key, key
    )
    if key not in CUSTOM_FIELD_ENTITIES:
        raise UsageError(
            f"Custom fields are read for Quotations or CrmAccounts, not {entity!r}.",
            "For example: %elfsquad_view custom_fields CrmAccounts",
        )
    return CUSTOM_FIELD_ENTITIES[key]


def custom_fields_view(
    run: ViewRun,
    entity: str = "Quotations",
    *,
    language: str | None = None,
    all_revisions: bool = False,
) -> pd.DataFrame:
    """One row per quotation (latest revisions unless ``all_revisions``) or CRM account, one
    column per custom field; a dropdown's value is its field's text, not the stored id."""
    sets = _entity_sets(entity)
    texts = ("EntityPropertyTexts",) if language else ()
    run.need(sets.entity, sets.properties, sets.fields, sets.values, *texts)
    if language:
        run.need(sets.field_texts)
        language = _check_language(run, language, "EntityPropertyTexts")
    props = run.sql(f"the custom fields of {sets.entity}", _properties_sql(sets, language))
    run.python("write one column per custom field, typed by the field's type")
    return run.sql(
        f"{sets.entity} with their custom fields as columns",
        _custom_fields_sql(sets, props, language, all_revisions),
    )


def _properties_sql(sets: CustomFieldSets, language: str | None) -> str:
    if not language:
        return f'SELECT id, description AS label, type FROM {sets.properties} ORDER BY "order", id'
    return f"""
SELECT p.id, coalesce(first(t.value ORDER BY t.id), p.description) AS label, p.type
FROM {sets.properties} p
LEFT JOIN EntityPropertyTexts t ON t.entityPropertyId = p.id AND t.languageIso = {literal(language)}
GROUP BY p.id, p.description, p.type, p."order"
ORDER BY p."order", p.id"""


def _custom_fields_sql(
    sets: CustomFieldSets, props: pd.DataFrame, language: str | None, all_revisions: bool
) -> str:
    names = pivot_names(props["label"].tolist(), sets.names)
    pivots = "".join(
        f",\n       {_custom_column(prop)} AS {ident(name)}"
        for name, (_, prop) in zip(names, props.iterrows(), strict=True)
    )
    label = "coalesce(fl.description, fl.code)"
    field_join = ""
    if language:
        label = "coalesce(ft.value, fl.description, fl.code)"
        field_join = (
            f"\n    LEFT JOIN {sets.field_texts} ft ON ft.entityPropertyFieldId = fl.id"
            f" AND ft.languageIso = {literal(language)}"
        )
    latest = ""
    if sets.entity == "Quotations" and not all_revisions:
        latest = (
            "\n    -- The latest revision of each quotation number."
            "\n    QUALIFY row_number() OVER "
            "(PARTITION BY quotationNumber ORDER BY versionNumber DESC) = 1"
        )
    return f"""
WITH entities AS (
    SELECT * FROM {sets.entity}{latest}
),
field_labels AS (
    -- A dropdown's value is the id of one of its fields: show the field's text.
    SELECT fl.id, {label} AS label
    FROM {sets.fields} fl{field_join}
)
SELECT {sets.columns}{pivots}
FROM entities e
LEFT JOIN {sets.values} v ON v.entityId = e.id
LEFT JOIN field_labels fl ON fl.id = v.value
GROUP BY ALL
ORDER BY {sets.order}"""
