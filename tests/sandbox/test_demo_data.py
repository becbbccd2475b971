"""The demo tenant reads like a real one: awkward values are there for the tests, but rare."""

from __future__ import annotations

import pytest

from elfsquad_magic.sandbox.seed import ODD_NAMES, generate_tenant


@pytest.fixture(scope="module")
def demo() -> dict[str, list[dict]]:
    return generate_tenant(1, 42)


def _share(rows: list[dict], test) -> float:  # noqa: ANN001
    return sum(1 for r in rows if test(r)) / len(rows)


def test_awkward_values_are_present_but_rare(demo) -> None:
    features, lines = demo["Features"], demo["QuotationLines"]
    shares = {
        "negative price": _share(features, lambda r: (r["salesPrice"] or 0) < 0),
        "zero price": _share(features, lambda r: r["salesPrice"] == 0),
        "no name": _share(features, lambda r: r["name"] is None),
        "awkward name": _share(features, lambda r: r["name"] in ODD_NAMES),
        "100% discount": _share(lines, lambda r: r["discountPct"] == 100),
        "zero quantity": _share(lines, lambda r: r["quantity"] == 0),
    }
    for what, share in shares.items():
        assert 0 < share <= 0.03, (what, share)


def test_every_awkward_name_is_in_the_demo(demo) -> None:
    names = {r["name"] for r in demo["Features"]}
    assert set(ODD_NAMES) <= names


def test_dealers_quote_in_the_currency_and_language_of_their_city(demo) -> None:
    from elfsquad_magic.sandbox.seed import CITIES, CURRENCY_OF, LANGUAGE_OF

    country_of = dict(CITIES)
    for org in demo["Organizations"][1:]:
        city = org["name"].split(" – ", 1)[1]
        country = country_of[city]
        assert org["currencyIso"] == CURRENCY_OF.get(country, "EUR"), org["name"]
        assert org["languageIso"] == LANGUAGE_OF.get(country, "en"), org["name"]
