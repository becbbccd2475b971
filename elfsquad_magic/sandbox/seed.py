"""A deterministic synthetic Elfsquad tenant: consistent relations, awkward values of real data.

``generate_tenant(scale, seed)`` returns JSON-shaped rows per entity set, every property present
(``None`` where unset), in the order of the API description. Relations hold: quotation lines point
to real quotations and features, quotations to real accounts, contacts and statuses, and a
quotation's ``totalPrice`` is the sum of its lines' ``round(quantity * unitPrice *
(1 - discountPct / 100), 2)``; ``totalPriceInclVat`` adds each line's VAT.

This module makes the reference sets, the organisation, users, catalogue and CRM; the product
model lives in ``seed_products``, quotations in ``seed_quotations``, dealer terms in
``seed_dealers``.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from .configurator import FeatureModelGraph
from .metadata import load_service
from .seed_dealers import (
    EXCHANGE_RATES,
    child_organizations,
    dealer_terms,
    exchange_rates,
    status_actions,
)
from .seed_dealers import settings as tenant_settings
from .seed_products import feature_models, feature_properties, feature_texts, model_trees
from .seed_quotations import (
    SALES_SETS,
    Catalogue,
    QuotationWriter,
    crm_discount_lines,
    property_sets,
    property_value,
)
from .seed_tenant import Tenant

__all__ = [
    "LANGUAGE_OF",
    "CURRENCY_OF",
    "ODD_NAMES",
    "CITIES",
    "generate_tenant",
    "in_model_order",
    "stream_tenant",
]

_LANGUAGES = [
    ("nl", "Nederlands", "Dutch"),
    ("en", "English", "English"),
    ("de", "Deutsch", "German"),
    ("fr", "Français", "French"),
    ("es", "Español", "Spanish"),
    ("sv", "Svenska", "Swedish"),
]
_CURRENCIES = [
    ("EUR", "Euro", "€", 2, 0.01, "Euros"),
    ("USD", "US Dollar", "$", 2, 0.01, "US dollars"),
    ("GBP", "British Pound", "£", 2, 0.01, "British pounds"),
    ("CHF", "Swiss Franc", "CHF", 2, 0.05, "Swiss francs"),
    ("SEK", "Swedish Krona", "kr", 2, 0.01, "Swedish kronor"),
    ("JPY", "Japanese Yen", "¥", 0, 1, "Japanese yen"),
]
_COUNTRIES = [
    ("NL", "Nederland", "Netherlands", "+31", "Amsterdam"),
    ("BE", "België", "Belgium", "+32", "Brussels"),
    ("DE", "Deutschland", "Germany", "+49", "Berlin"),
    ("FR", "France", "France", "+33", "Paris"),
    ("GB", "United Kingdom", "United Kingdom", "+44", "London"),
    ("US", "United States", "United States", "+1", "Washington, D.C."),
    ("CH", "Schweiz", "Switzerland", "+41", "Bern"),
    ("SE", "Sverige", "Sweden", "+46", "Stockholm"),
    ("ES", "España", "Spain", "+34", "Madrid"),
    ("JP", "日本", "Japan", "+81", "Tokyo"),
]
# Drawn by index, so a value's share is its count here: the awkward ones (a quantity of 0, a
# 100 % discount) stay in the data for the tests, but rare, as in a real tenant (about 1 %).
_QUANTITIES = [1.0] * 45 + [2.0] * 14 + [3.0] * 8 + [4.0] * 6 + [10.0] * 4 + [0.5] * 2
_QUANTITIES += [2.75, 0.0]
_DISCOUNTS = [0.0] * 55 + [5.0] * 18 + [10.0] * 14 + [12.5] * 6 + [15.0] * 5 + [20.0] * 1
_DISCOUNTS += [100.0]
# Languages and currencies of each country, so that a dealer in London quotes in pounds.
LANGUAGE_OF = {"NL": "nl", "BE": "nl", "DE": "de", "CH": "de", "FR": "fr", "ES": "en"}
CURRENCY_OF = {"GB": "GBP", "CH": "CHF", "US": "USD"}
_STATUSES = ["Concept", "Sent", "Accepted", "Rejected", "Expired", "Archived", "Revised"]
_VATS = [
    ("High 21%", 21.0, True),
    ("Low 9%", 9.0, False),
    ("Zero", 0.0, False),
    ("DE 19%", 19.0, False),
]
_UNITS = [
    ("pcs", "Pieces"),
    ("m", "Metre"),
    ("m2", "Square metre"),
    ("kg", "Kilogram"),
    ("h", "Hour"),
]
_CATEGORIES = [
    "Frames",
    "Wheels & Tyres",
    "Drivetrain",
    "Brakes",
    "Saddles, seats",
    "Lighting",
    "Accessoires",
    "Services",
    'Paint "Premium"',
    "Électrique",
    "Spare parts",
    "Discounts",
]
# Discounts (negative prices) are one feature in a hundred, by index, so never more than 1 %.
_DISCOUNT_EVERY = 100
_WORDS = [
    "Alu",
    "Carbon",
    "Steel",
    "Frame",
    "Wheel",
    "Brake",
    "Disc",
    "Chain",
    "Motor",
    "Battery",
    "Saddle",
    "Lamp",
    "Rack",
    "Bell",
    "Tyre",
    "Pedal",
    "Grip",
    "Mirror",
]
ODD_NAMES = [
    "O'Brien's \"special\" frame, 58cm",
    "Größe XL – Übergröße",
    'Wheel 28", black; reflective',
    "日本語のサドル",
    "Emoji 🚲 edition",
    "Comma, separated, name",
    "Tab\tand\nnewline",
    "   padded name   ",
    "100% carbon",
    "under_score and back\\slash",
    "",
]
_FIRST = [
    "Anna",
    "Bram",
    "Chloé",
    "Dirk",
    "Eva",
    "Frédéric",
    "Günther",
    "Hanna",
    "Ivo",
    "Jürgen",
    "Kees",
    "Liam",
    "Maëlle",
    "Noor",
    "Olaf",
    "Pía",
    "Sven",
    "Zoë",
]
_LAST = [
    ("", "Jansen"),
    ("de", "Vries"),
    ("van", "Dijk"),
    ("", "Müller"),
    ("", "O'Connor"),
    ("", "Smith"),
    ("van der", "Berg"),
    ("", "Åström"),
    ("", "García"),
    ("", "Dubois"),
]
_COMPANIES = ["Fietsen", "Cycles", "Bikes", "Rad", "Vélos", "Wheels"]
_SUFFIX = ["B.V.", "GmbH", "Ltd.", "S.A.", "& Zn.", "Inc."]
CITIES = [
    ("Amsterdam", "NL"),
    ("Rotterdam", "NL"),
    ("Antwerpen", "BE"),
    ("München", "DE"),
    ("Köln", "DE"),
    ("Paris", "FR"),
    ("London", "GB"),
    ("Zürich", "CH"),
    ("Malmö", "SE"),
    ("Sevilla", "ES"),
    ("New York", "US"),
]


def generate_tenant(scale: int = 1, seed: int = 42) -> dict[str, list[dict]]:
    """Rows of every entity set (empty where not seeded), deterministic for (scale, seed)."""
    whole: dict[str, list[dict]] = {name: [] for name in load_service().sets}
    for name, rows in stream_tenant(scale, seed):
        whole[name].extend(rows)
    return whole


def stream_tenant(
    scale: int = 1, seed: int = 42, chunk_rows: int = 50_000, *, model_order: bool = True
) -> Iterator[tuple[str, list[dict]]]:
    """The rows of :func:`generate_tenant` as (entity set, rows) chunks, each set's rows in
    order: the quotations come in chunks of about ``chunk_rows`` lines while they are made,
    so a large tenant is never held whole. Chunking changes no value. Without
    ``model_order`` a row's properties may come in another order (:func:`in_model_order`
    puts them back), for a consumer that does that on another core."""
    in_order = _in_property_order if model_order else _in_service_order
    ordered = partial(in_order, most=max(1, chunk_rows))

    t = Tenant(scale, seed)
    out = _reference_sets()
    # Each step draws from the one seeded generator, so their order is part of the data.
    out["Organizations"] = orgs = _organizations(t)
    out["Users"] = _users(t)
    out["Vats"] = vats = _vats(t)
    out["UnitOfMeasurements"] = units = _units(t)
    out["Categories"] = categories = _categories(t)
    out["Features"] = features = _features(t, categories, vats, units)
    _products(t, out, features)
    out["QuotationStatuses"] = statuses = _statuses(t)
    out["QuotationStatusChangeActions"] = status_actions(t, statuses)
    out["CrmAccounts"], out["CrmContacts"] = _crm(t, vats)
    _dealers(t, out, orgs, features)
    _properties(t, out)
    writer = _sales(t, out, vats, statuses)
    # What the quotations leave as it is goes first; the organisations wait for the settings.
    finished = {k: v for k, v in out.items() if k != "Organizations" and k not in SALES_SETS}
    for name in finished:
        del out[name]  # the writer holds what it needs; the rest goes once loaded
    yield from ordered(finished)
    del finished
    for chunk in writer.chunks(320 * t.scale, chunk_rows):
        yield from ordered(chunk)
    settings = tenant_settings(t, statuses, vats, 100000 + writer.quotation_count + 1)
    orgs[0]["settingsId"] = settings["id"]
    yield from ordered({"Organizations": orgs, "Settings": [settings]})


def _template(name: str) -> dict:
    """An empty row of a set, its properties in model order."""
    return dict.fromkeys(load_service().sets[name].properties)


def _products(t: Tenant, out: dict[str, list[dict]], features: list[dict]) -> None:
    """Feature models as trees, their links, feature properties and texts."""
    out["FeatureModels"] = models = feature_models(t, features)
    nodes, edges, linked = model_trees(
        t, models, features, _template("FeatureModelNodes"), _template("FeatureModelRelationships")
    )
    out["FeatureModelNodes"], out["FeatureModelRelationships"] = nodes, edges
    out["LinkedFeatureModels"] = linked
    props, values = feature_properties(t, features)
    out["FeatureProperties"], out["FeatureHasFeatureProperties"] = props, values
    out["FeatureTexts"] = feature_texts(t, features, nodes)


def _dealers(t: Tenant, out: dict, orgs: list[dict], features: list[dict]) -> None:
    """The dealer tree, dealer terms, exchange rates, CRM discount lines."""
    out["OrganizationHasChildOrganizationRelationships"] = child_organizations(t, orgs)
    sells, sells_models = dealer_terms(t, orgs, features, out["FeatureModels"])
    out["OrganizationSellsFeatures"], out["OrganizationSellsFeatureModels"] = sells, sells_models
    out["ExchangeRates"] = exchange_rates(t)
    out["CrmDiscountLines"] = crm_discount_lines(t, out["CrmAccounts"])


def _properties(t: Tenant, out: dict[str, list[dict]]) -> None:
    """Custom fields of quotations and of CRM accounts, with the accounts' values."""
    quotation = property_sets(
        t, _quotation_property_specs(), "QuotationProperties", "QuotationPropertyFields"
    )
    out["QuotationProperties"] = quotation["QuotationProperties"]
    out["QuotationPropertyFields"] = quotation["QuotationPropertyFields"]
    out["QuotationPropertyFieldTexts"] = [
        {**row, "type": "Description"} for row in quotation["field_texts"]
    ]
    crm = property_sets(
        t, _crm_property_specs(), "CrmAccountProperties", "CrmAccountPropertyFields"
    )
    out["CrmAccountProperties"] = crm["CrmAccountProperties"]
    out["CrmAccountPropertyFields"] = crm["CrmAccountPropertyFields"]
    out["CrmAccountPropertyFieldTexts"] = crm["field_texts"]
    out["EntityPropertyTexts"] = quotation["texts"] + crm["texts"]
    values = []
    for account in out["CrmAccounts"]:
        for prop in crm["CrmAccountProperties"]:
            if t.rng.random() < 0.6:
                row = t.audited(account["organizationId"])
                value = property_value(t, prop, crm["CrmAccountPropertyFields"])
                row.update(entityId=account["id"], entityPropertyId=prop["id"], value=value)
                values.append(row)
    out["CrmAccountPropertyValues"] = values


def _quotation_property_specs() -> list:
    from .seed_quotations import QUOTATION_PROPERTIES

    return QUOTATION_PROPERTIES


def _crm_property_specs() -> list:
    from .seed_quotations import CRM_PROPERTIES

    return CRM_PROPERTIES


def _sales(
    t: Tenant, out: dict[str, list[dict]], vats: list[dict], statuses: list
) -> QuotationWriter:
    """The writer of quotations with their revisions, groups, lines, configurations and custom
    values."""
    features = {f["id"]: f for f in out["Features"]}
    nodes_of: dict[str, list[dict]] = {}
    for node in out["FeatureModelNodes"]:
        nodes_of.setdefault(node["featureModelId"], []).append(node)
    edges_of: dict[str, list[dict]] = {}
    for edge in out["FeatureModelRelationships"]:
        edges_of.setdefault(edge["featureModelId"], []).append(edge)
    models = out["FeatureModels"]
    graphs = {
        m["id"]: FeatureModelGraph(
            m, nodes_of.get(m["id"], []), edges_of.get(m["id"], []), features
        )
        for m in models
    }
    catalogue = Catalogue(
        models=models,
        graphs=graphs,
        features=features,
        priced=[f for f in out["Features"] if f["salesPrice"] is not None],
        vat_pct={v["id"]: v["pct"] for v in vats},
        rates=EXCHANGE_RATES,
        purchase_discount={m["id"]: m["purchaseDiscount"] for m in models},
    )
    writer = QuotationWriter(
        t,
        catalogue,
        statuses,
        out["CrmAccounts"],
        out["CrmContacts"],
        _template("QuotationLines"),
    )
    for row in out["CrmDiscountLines"]:
        writer.discounts_of.setdefault(row["crmAccountId"], []).append(row)
    writer.quantities, writer.discounts = _QUANTITIES, _DISCOUNTS
    writer.units = [code for code, _ in _UNITS]
    writer.properties = out["QuotationProperties"]
    writer.fields = out["QuotationPropertyFields"]
    return writer


def _reference_sets() -> dict[str, list[dict]]:
    """Languages, currencies and countries: fixed tables, no random values."""
    out: dict[str, list[dict]] = {}
    out["Languages"] = [{"iso": i, "name": n, "englishName": e} for i, n, e in _LANGUAGES]
    out["Currencies"] = [
        {"iso": i, "name": n, "symbol": s, "decimalDigits": d, "rounding": r, "namePlural": p}
        for i, n, s, d, r, p in _CURRENCIES
    ]
    out["Countries"] = [
        {"iso": i, "name": n, "active": i != "JP", "englishName": e, "phonePrefix": p, "capital": c}
        for i, n, e, p, c in _COUNTRIES
    ]
    return out


def _organizations(t: Tenant) -> list[dict]:
    """The tenant itself and its dealers."""
    rng = t.rng
    # Organizations: the tenant itself and its dealers.
    main_org = t.guid()
    orgs = []
    for i in range(2 + t.scale):
        org_id = main_org if i == 0 else t.guid()
        row = t.audit(main_org, None)
        city, country = ("Amsterdam", "NL") if i == 0 else rng.choice(CITIES)
        row.update(
            id=org_id,
            name="Velo Demo B.V." if i == 0 else f"Dealer {i} – {city}",
            settingsId=None,
            defaultDiscountPct=0.0 if i == 0 else float(rng.choice([0, 5, 7.5, 10])),
            defaultUpValuePct=0.0,
            currencyIso=CURRENCY_OF.get(country, "EUR"),
            languageIso=LANGUAGE_OF.get(country, "en"),
            isConfigurationModelPreviewer=False,
            organizationTypeId=None,
        )
        orgs.append(row)
    t.main_org = main_org
    t.org_ids = [o["id"] for o in orgs]
    return orgs


def _users(t: Tenant) -> list[dict]:
    rng = t.rng
    org_ids = t.org_ids
    users = []
    for i in range(8 * t.scale):
        first, (_prefix, last) = rng.choice(_FIRST), rng.choice(_LAST)
        row = t.audit(rng.choice(org_ids), None)
        row.update(
            userName=f"{first.lower()}.{last.lower()}{i}@example.com",
            avatar=None,
            twoFactorAuthenticationStatus=rng.choice(["Enabled", "Disabled"]),
            tenantActivityStatus=rng.choice(["Active", "Active", "Inactive"]),
            isSeller=rng.random() < 0.7,
            currencyIso="EUR",
            languageIso=rng.choice(["nl", "en", "de"]),
            culture=rng.choice(["nl-NL", "en-GB", "de-DE"]),
            lastActivity=t.stamp(t.moment(2024, 2025)) if rng.random() < 0.85 else None,
            crmId=None,
            contactId=None,
            permissions=None,
        )
        users.append(row)
    t.user_ids = [u["id"] for u in users]
    return users


def _vats(t: Tenant) -> list[dict]:
    vats = []
    for i, (name, pct, default) in enumerate(_VATS):
        row = t.audited()
        row.update(name=name, pct=pct, includesVAT=i == 3, defaultVat=default)
        vats.append(row)
    return vats


def _units(t: Tenant) -> list[dict]:
    units = []
    for code, description in _UNITS:
        row = t.audited()
        row.update(code=code, description=description)
        units.append(row)
    return units


def _categories(t: Tenant) -> list[dict]:
    rng = t.rng
    categories = []
    for i, name in enumerate(_CATEGORIES):
        row = t.audited()
        parent = categories[rng.randrange(len(categories))]["id"] if i > 4 and i % 2 else None
        row.update(name=name, parentId=parent, order=i)
        categories.append(row)
    return categories


def _features(t: Tenant, categories: list[dict], vats: list[dict], units: list[dict]) -> list[dict]:
    rng = t.rng
    discounts = next(c for c in categories if c["name"] == "Discounts")
    products = [c for c in categories if c["name"] != "Discounts"]
    features = []
    for i in range(400 * t.scale):
        row = t.audited()
        roll = rng.random()
        if i % 36 == 9:  # each awkward name once per 400 features (under 3 %), always there
            name = ODD_NAMES[(i // 36) % len(ODD_NAMES)]
        elif roll < 0.02:
            name = None
        else:
            name = " ".join(rng.sample(_WORDS, rng.randint(1, 3))) + f" {i}"
        # A discount line item (negative price) or a free one is rare, as in a real catalogue.
        if i % _DISCOUNT_EVERY == 57:
            category = discounts
        else:
            category = products[int(rng.random() * len(products))]
        if category is discounts:
            price = -t.money(5, 250)
        elif rng.random() < 0.015:
            price = 0.0
        else:
            price = t.money(0.5, 4500)
        ftype = rng.choice(["Product", "Product", "Option", "Text", "Value", "Model"])
        row.update(
            name=name,
            articleCode=f"ART-{i:05d}" if rng.random() < 0.9 else None,
            type=ftype,
            salesPrice=price if rng.random() < 0.97 else None,
            disallowDiscount=rng.random() < 0.1,
            minValue=0.0 if ftype == "Value" else None,
            maxValue=float(rng.choice([10, 100, 1000])) if ftype == "Value" else None,
            stepValue=1.0 if ftype == "Value" else None,
            packingUnit=float(rng.choice([1, 1, 1, 5, 10])),
            categoryId=category["id"] if rng.random() < 0.95 else None,
            marginPct=round(rng.uniform(-5, 60), 2),
            cardImageUrl=f"https://cdn.example.com/img/{i}.png" if rng.random() < 0.3 else None,
            vatId=rng.choice(vats)["id"],
            unitOfMeasurementId=rng.choice(units)["id"],
            tags=rng.sample(["bike", "e-bike", "sale", "new", "b2b", "café"], rng.randint(0, 3)),
            _subcategoryIds=[],
            isRecommendation=rng.random() < 0.05,
            customField1="x" * 3000 if i == 7 else None,  # long text
        )
        features.append(row)
    return features


def _statuses(t: Tenant) -> list[dict]:
    statuses = []
    for i, name in enumerate(_STATUSES):
        row = t.audited()
        row.update(name=name, order=i, displayInFlow=i < 4, canExpire=i == 1, canArchive=i >= 2)
        statuses.append(row)
    return statuses


def _crm(t: Tenant, vats: list[dict]) -> tuple[list[dict], list[dict]]:
    """CRM accounts (companies and persons) and one to three contacts each."""
    rng = t.rng
    org_ids = t.org_ids
    accounts, contacts = [], []
    for i in range(150 * t.scale):
        row = t.audited(rng.choice(org_ids))
        city, country = rng.choice(CITIES)
        person = rng.random() < 0.15
        first, (prefix, last) = rng.choice(_FIRST), rng.choice(_LAST)
        company = (
            None
            if person
            else f"{rng.choice(_LAST)[1]} {rng.choice(_COMPANIES)} {rng.choice(_SUFFIX)}"
        )
        row.update(
            companyName=company,
            email=f"info{i}@example.com" if rng.random() < 0.8 else None,
            phone1=f"+31 20 {rng.randrange(10**6, 10**7)}",
            phone2=None,
            streetName=rng.choice(["Keizersgracht", "Hauptstraße", "Rue de l'Église", "High St"]),
            houseNumber=str(rng.randint(1, 400)) + rng.choice(["", "", "a", "-2"]),
            postalCode=f"{rng.randint(1000, 9999)} {rng.choice(['AB', 'XY', 'ZZ'])}",
            city=city,
            countryIso=country,
            cocNumber=None,
            vatNumber=f"{country}{rng.randrange(10**8, 10**9)}B01" if not person else None,
            state=None,
            iban=None,
            type="Person" if person else "Company",
            defaultVatId=vats[0]["id"],
            customerReference=f"C-{i:05d}",
            defaultContactId=None,
            firstName=first if person else None,
            lastNamePrefix=(prefix or None) if person else None,
            lastName=last if person else None,
        )
        accounts.append(row)
        for j in range(rng.randint(1, 3)):
            contact = t.audited(row["organizationId"])
            first, (prefix, last) = rng.choice(_FIRST), rng.choice(_LAST)
            contact.update(
                salutation=rng.choice(["Mr.", "Ms.", "Dr.", None]),
                firstName=first,
                lastNamePrefix=prefix or None,
                lastName=last,
                companyName=company,
                email=f"{first.lower()}.{i}.{j}@example.com",
                phone1=None,
                phone2=None,
                streetName=None,
                houseNumber=None,
                postalCode=None,
                state=None,
                city=city,
                useParentAddress=True,
                countryIso=country,
                crmAccountId=row["id"],
                contactReference=None,
            )
            contacts.append(contact)
            if j == 0:
                row["defaultContactId"] = contact["id"]
    return accounts, contacts


def in_model_order(name: str, rows: list[dict]) -> list[dict]:
    """``rows`` of the set ``name`` with their properties in model order (every property
    present, ``None`` where unset); the same list when they are already."""
    props = list(load_service().sets[name].properties)
    if rows and list(rows[0]) != props:
        return [{p: row.get(p) for p in props} for row in rows]
    return rows


def _in_service_order(out: dict[str, list[dict]], most: int) -> Iterator[tuple[str, list[dict]]]:
    """The entity sets of the service with rows in ``out``, in the service's order, in pieces
    of at most ``most`` rows; each set is taken out of ``out`` as it goes, so that it can be
    let go once used."""
    for name in load_service().sets:
        rows = out.pop(name, [])
        if len(rows) <= most:
            if rows:
                yield name, rows
        else:  # a product model set at scale 200 (150,000 rows): a loader holds one piece
            for start in range(0, len(rows), most):
                yield name, rows[start : start + most]
        del rows


def _in_property_order(out: dict[str, list[dict]], most: int) -> Iterator[tuple[str, list[dict]]]:
    """:func:`_in_service_order` with each row's properties in model order."""
    for name, rows in _in_service_order(out, most):
        yield name, in_model_order(name, rows)
        del rows
