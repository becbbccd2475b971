"""The quotations and quotation_lines views against the sandbox, compared with answers computed
from the raw sets: latest revisions, status and party names, converted totals, margins, group
subtotals equal to QuotationGroups' totals, a quotation without lines, unknown quotations."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import pytest
from cpq_expected import account_name, by_id, latest_quotations, line_margins

from elfsquad_magic.errors import UsageError


def test_the_pipeline_is_the_latest_revision_with_names(cpq_client, raw) -> None:
    frame = cpq_client.cpq.quotations()
    latest = latest_quotations(raw)
    statuses, accounts = by_id(raw("QuotationStatuses")), by_id(raw("CrmAccounts"))
    organizations = by_id(raw("Organizations"))
    assert frame["id"].tolist() == [q["id"] for q in latest]
    for row, q in zip(frame.itertuples(index=False), latest, strict=True):
        assert row.status == statuses[q["statusId"]]["name"]
        assert row.debtor == account_name(accounts.get(q["debtorId"]))
        assert row.seller == organizations[q["sellerId"]]["name"]
        assert (row.quotationNumber, row.versionNumber) == (
            q["quotationNumber"],
            q["versionNumber"],
        )
        assert row.totalPrice == q["totalPrice"] and row.currencyIso == q["currencyIso"]
    assert "Revised" not in set(frame["status"])
    assert str(frame["createdDate"].dt.tz) == "UTC"


def test_all_revisions_keeps_every_version(cpq_client, raw) -> None:
    frame = cpq_client.cpq.quotations(all_revisions=True)
    assert sorted(frame["id"]) == sorted(q["id"] for q in raw("Quotations"))
    assert (frame["status"] == "Revised").sum() == len(raw("Quotations")) - len(
        latest_quotations(raw)
    )


@pytest.mark.parametrize("target", ["EUR", "usd"])
def test_totals_are_converted_by_the_exchange_rates(cpq_client, raw, target) -> None:
    frame = cpq_client.cpq.quotations(currency=target)
    rates = {r["currencyIso"]: r["rate"] for r in raw("ExchangeRates")}
    iso = target.upper()
    for row, q in zip(frame.itertuples(index=False), latest_quotations(raw), strict=True):
        expected = round(q["totalPrice"] / rates[q["currencyIso"]] * rates[iso], 2)
        assert getattr(row, f"totalPrice{iso}") == pytest.approx(expected, abs=0.005)


def test_an_unknown_currency_names_the_ones_with_a_rate(cpq_client) -> None:
    with pytest.raises(UsageError, match="There is no exchange rate for 'XYZ'") as caught:
        cpq_client.cpq.quotations(currency="XYZ")
    assert "EUR" in caught.value.hint


def test_lines_carry_their_feature_group_configuration_and_margins(cpq_client, raw) -> None:
    frame = cpq_client.cpq.quotation_lines(all_revisions=True)
    assert sorted(frame["id"]) == sorted(line["id"] for line in raw("QuotationLines"))
    lines, features = by_id(raw("QuotationLines")), by_id(raw("Features"))
    vats, configurations = by_id(raw("Vats")), by_id(raw("Configurations"))
    for row in frame.itertuples(index=False):
        line = lines[row.id]
        expected = line_margins(line, vats[line["vatId"]]["pct"])
        for name, value in expected.items():
            assert getattr(row, name) == pytest.approx(value, abs=1e-9), name
        name = features[line["featureId"]]["name"]
        name = line["description"] if name is None else name
        assert row.feature == name if name is not None else pd.isna(row.feature)
        if line["configurationId"]:
            assert row.configurationCode == configurations[line["configurationId"]]["code"]
            assert row.group == line["groupTitle"]
        else:
            assert pd.isna(row.configurationCode)


def test_group_subtotals_equal_the_quotation_groups_totals(cpq_client, raw) -> None:
    frame = cpq_client.cpq.quotation_lines(all_revisions=True)
    sums = frame.groupby("groupId")[
        ["totalPriceExclVat", "totalPriceInclVat", "purchasePrice", "profitMargin"]
    ].sum()
    groups = raw("QuotationGroups")
    assert len(groups) > 100 and set(sums.index) == {g["groupId"] for g in groups}
    for group in groups:
        mine = sums.loc[group["groupId"]]
        for column in ("totalPriceExclVat", "totalPriceInclVat", "purchasePrice", "profitMargin"):
            assert round(mine[column], 2) == pytest.approx(group[column], abs=1e-9), column


def test_one_quotation_by_number_is_its_latest_version(cpq_client, raw) -> None:
    latest = {q["quotationNumber"]: q for q in latest_quotations(raw)}
    revised = next(n for n, q in latest.items() if q["versionNumber"] > 1)
    frame = cpq_client.cpq.quotation_lines(revised)
    wanted = latest[revised]["id"]
    expected = sorted(
        (line["lineNumber"], line["id"])
        for line in raw("QuotationLines")
        if line["quotationId"] == wanted
    )
    assert list(zip(frame["lineNumber"], frame["id"], strict=True)) == expected
    first = cpq_client.cpq.quotation_lines(f"{revised}/1")
    assert set(first["versionNumber"]) == {1}
    every = cpq_client.cpq.quotation_lines(revised, all_revisions=True)
    assert set(every["versionNumber"]) == set(range(1, latest[revised]["versionNumber"] + 1))


def test_a_quotation_without_lines_is_an_empty_frame_of_the_same_types(cpq_client, raw) -> None:
    line_quotations = {line["quotationId"] for line in raw("QuotationLines")}
    empty = next(q for q in raw("Quotations") if q["id"] not in line_quotations)
    frame = cpq_client.cpq.quotation_lines(empty["id"])
    assert frame.empty
    full = cpq_client.cpq.quotation_lines(100000)
    assert frame.dtypes.to_dict() == full.dtypes.to_dict()


def test_a_filter_keeps_the_lines_it_names(cpq_client) -> None:
    frame = cpq_client.cpq.quotation_lines(where="status = 'Accepted' AND discountPct >= 10")
    every = cpq_client.cpq.quotation_lines()
    expected = every[(every["status"] == "Accepted") & (every["discountPct"] >= 10)]
    assert frame["id"].tolist() == expected["id"].tolist() and len(frame)


@pytest.mark.parametrize("given", ["99", "1000000", "100000/99", "nope"])
def test_an_unknown_quotation_is_a_short_error(cpq_client, given) -> None:
    with pytest.raises(UsageError, match=f"There is no quotation '{given}'") as caught:
        cpq_client.cpq.quotation_lines(given)
    assert "%elfsquad_view quotations" in caught.value.hint
    assert "Traceback" not in "".join(caught.value._render_traceback_())


def test_close_numbers_are_offered(cpq_client) -> None:
    with pytest.raises(UsageError) as caught:
        cpq_client.cpq.quotation_lines("10001")
    assert caught.value.hint.startswith("Did you mean '100")


def test_margins_per_category_add_up_to_the_lines(cpq_client, raw) -> None:
    frame = cpq_client.cpq.quotation_lines()
    per = frame.groupby("category", dropna=False)["profitMargin"].sum()
    latest = {q["id"] for q in latest_quotations(raw)}
    vats = by_id(raw("Vats"))
    total = sum(
        line_margins(line, vats[line["vatId"]]["pct"])["profitMargin"]
        for line in raw("QuotationLines")
        if line["quotationId"] in latest
    )
    assert per.sum() == pytest.approx(total, abs=0.01)
    counts: dict[str, int] = defaultdict(int)
    for line in raw("QuotationLines"):
        counts[line["quotationId"]] += line["quotationId"] in latest
    assert len(frame) == sum(counts.values())
