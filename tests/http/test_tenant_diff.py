"""A diff between two tenants, on two sandboxes seeded alike and then changed: every kind of
difference is found, and nothing else. The expected differences are computed here from the
sandboxes' own rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clients import logged_in_client

from elfsquad_magic.errors import UsageError
from elfsquad_magic.sandbox import Sandbox


@pytest.fixture(scope="module")
def twins() -> Iterator[tuple[Sandbox, Sandbox]]:
    """Two tenants of the same seed; the second is then changed by the test module."""
    with Sandbox(scale=1, seed=42) as test, Sandbox(scale=1, seed=42) as prod:
        yield test, prod


def clients(twins, tmp_path):
    test = logged_in_client(twins[0], progress=False, mirror_dir=tmp_path)
    prod = logged_in_client(twins[1], progress=False, mirror_dir=tmp_path)
    test.connection, prod.connection = "test", "prod"
    return test, prod


def test_every_kind_of_difference_and_nothing_else(twins, tmp_path) -> None:
    test_sb, prod_sb = twins
    test, prod = clients(twins, tmp_path)
    assert test.diff(prod, "Features").empty  # alike: nothing differs
    features = prod_sb.rows("Features")
    gone, renamed, repriced = features[0], features[1], features[2]
    prod.delete(f"/data/1/features({gone['id']})")
    prod.patch(f"/data/1/features({renamed['id']})", json={"name": "Renamed in prod"})
    prod.patch(
        f"/data/1/features({repriced['id']})",
        json={"salesPrice": repriced["salesPrice"] + 10, "articleCode": "NEW-CODE-1"},
    )
    prod.post("/data/1/features", json={"name": "Only in prod", "articleCode": "ONLY-PROD"})

    differences = test.diff(prod, "Features", on=["articleCode"])
    by_kind = differences.groupby("change")["articleCode"].apply(set).to_dict()
    # Expected from the rows themselves: codes present on one side only, values that differ.
    codes_test = {r["articleCode"] for r in test_sb.rows("Features") if r["articleCode"]}
    codes_prod = {r["articleCode"] for r in prod_sb.rows("Features") if r["articleCode"]}
    assert by_kind["only in test"] == codes_test - codes_prod
    assert by_kind["only in prod"] == codes_prod - codes_test
    assert by_kind["only in test"] == {gone["articleCode"], repriced["articleCode"]}
    assert by_kind["only in prod"] == {"ONLY-PROD", "NEW-CODE-1"}
    changed = differences[differences["change"] == "changed"]
    assert changed[["articleCode", "property", "test", "prod"]].values.tolist() == [
        [renamed["articleCode"], "name", renamed["name"], "Renamed in prod"]
    ]
    summary = differences.attrs["elfsquad"]["diff"]["summary"]
    both = len(codes_test & codes_prod)
    assert summary == (
        f"Features: {both:,} in both, 2 only in test, 2 only in prod, 1 changed in 1 property"
    )


def test_offline_on_the_mirrors_and_ignored_columns(twins, tmp_path) -> None:
    test, prod = clients(twins, tmp_path)
    test.sync("Vats")
    prod.sync("Vats")
    row = twins[1].rows("Vats")[0]
    prod.patch(f"/data/1/vats({row['id']})", json={"name": "Changed later"})
    assert test.diff(prod, "Vats", offline=True).empty  # the mirrors as they were
    online = test.diff(prod, "Vats")
    assert online["property"].tolist() == ["name"]
    assert test.diff(prod, "Vats", ignore=["name"]).empty


def test_ids_that_differ_everywhere_are_named(tmp_path) -> None:
    with Sandbox(scale=1, seed=42) as one, Sandbox(scale=1, seed=43) as two:
        first = logged_in_client(one, progress=False, mirror_dir=tmp_path)
        second = logged_in_client(two, progress=False, mirror_dir=tmp_path)
        frame = first.diff(second, "Vats")
    summary = frame.attrs["elfsquad"]["diff"]["summary"]
    assert "0 in both" in summary and "ids differ between tenants" in summary
    assert "--on articleCode" in summary


def test_a_key_that_is_not_unique_is_refused(twins, tmp_path) -> None:
    test, prod = clients(twins, tmp_path)
    with pytest.raises(UsageError, match="status is not unique"):
        test.diff(prod, "Quotations", on=["status"])
