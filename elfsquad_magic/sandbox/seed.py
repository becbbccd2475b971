"""A deterministic synthetic Elfsquad tenant: consistent relations, awkward values of real data.

``generate_tenant(scale, seed)`` returns JSON-shaped rows per entity set, every property present
(``None`` where unset), in the order of the API description. Relations hold: quotation lines point
to real quotations and features, quotations to real accounts, contacts and statuses, and a
quotation's ``totalPrice`` is the sum of its lines' ``round(quantity * unitPrice *
(1 - discountPct / 100), 2)``; ``totalPriceInclVat`` adds each line's VAT.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from .metadata import load_service
from .values import EMPTY_DATE

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
_LANGUAGE_OF = {"NL": "nl", "BE": "nl", "DE": "de", "CH": "de", "FR": "fr", "ES": "en"}
_CURRENCY_OF = {"GB": "GBP", "CH": "CHF", "US": "USD"}
_STATUSES = ["Concept", "Sent", "Accepted", "Rejected", "Expired", "Archived"]
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
# Discounts (negative prices) are about 1.5 % of the features.
_CATEGORY_WEIGHTS = [12 if name != "Discounts" else 1.5 for name in _CATEGORIES]
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
_ODD_NAMES = [
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
_CITIES = [
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


class _Tenant:
    def __init__(self, scale: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.scale = max(1, int(scale))
        self.base = datetime(2019, 1, 1)
        self.main_org = ""
        self.org_ids: list[str] = []
        self.user_ids: list[str] = []

    # Values -------------------------------------------------------------------------------
    def guid(self) -> str:
        # A version-4 guid from the seeded generator (uuid.UUID is slow at 100k+ rows).
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"

    def moment(self, start_year: int = 2019, end_year: int = 2025) -> datetime:
        start = datetime(start_year, 1, 1)
        span = (datetime(end_year, 12, 31) - start).total_seconds()
        return start + timedelta(seconds=self.rng.random() * span)

    def stamp(self, moment: datetime) -> str:
        """A date-time in one of the forms the real service sends."""
        roll = self.rng.random()
        m = moment
        text = f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        if roll < 0.6:
            return f"{text}.{m.microsecond * 10 + int(roll * 16) % 10:07d}Z"
        if roll < 0.8:
            return f"{text}Z"
        if roll < 0.9:
            # Local time with an offset: the same instant written an hour later.
            m = m + timedelta(hours=1)
            text = (
                f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
            )
            return f"{text}.{m.microsecond // 1000:03d}+01:00"
        return text  # no offset at all

    def audit(self, org_id: str, creator: str | None) -> dict:
        created = self.moment()
        updated = created + timedelta(days=self.rng.random() * 200)
        return {
            "id": self.guid(),
            "createdDate": self.stamp(created),
            "updatedDate": self.stamp(updated) if self.rng.random() < 0.9 else EMPTY_DATE,
            "organizationId": org_id,
            "creatorId": creator,
            "reference": None,
        }

    def audited(self, org: str | None = None) -> dict:
        """Audit fields of a row created by a random user of ``org`` (default: the tenant)."""
        creator = self.rng.choice(self.user_ids)
        return self.audit(org or self.main_org, creator)

    def money(self, low: float, high: float) -> float:
        return round(self.rng.uniform(low, high), 2)


def generate_tenant(scale: int = 1, seed: int = 42) -> dict[str, list[dict]]:
    """Rows of every entity set (empty where not seeded), deterministic for (scale, seed)."""
    t = _Tenant(scale, seed)
    out = _reference_sets()
    # Each step draws from the one seeded generator, so their order is part of the data.
    out["Organizations"] = _organizations(t)
    out["Users"] = _users(t)
    out["Vats"] = vats = _vats(t)
    out["UnitOfMeasurements"] = units = _units(t)
    out["Categories"] = categories = _categories(t)
    out["Features"] = features = _features(t, categories, vats, units)
    out["FeatureModels"] = models = _feature_models(t, features)
    out["QuotationStatuses"] = statuses = _statuses(t)
    out["CrmAccounts"], out["CrmContacts"] = _crm(t, vats)
    out["Quotations"], out["QuotationLines"] = _quotations(
        t, features, vats, models, statuses, out["CrmAccounts"], out["CrmContacts"]
    )
    return _in_property_order(out)


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


def _organizations(t: _Tenant) -> list[dict]:
    """The tenant itself and its dealers."""
    rng = t.rng
    # Organizations: the tenant itself and its dealers.
    main_org = t.guid()
    orgs = []
    for i in range(2 + t.scale):
        org_id = main_org if i == 0 else t.guid()
        row = t.audit(main_org, None)
        city, country = ("Amsterdam", "NL") if i == 0 else rng.choice(_CITIES)
        row.update(
            id=org_id,
            name="Velo Demo B.V." if i == 0 else f"Dealer {i} – {city}",
            settingsId=None,
            defaultDiscountPct=0.0 if i == 0 else float(rng.choice([0, 5, 7.5, 10])),
            defaultUpValuePct=0.0,
            currencyIso=_CURRENCY_OF.get(country, "EUR"),
            languageIso=_LANGUAGE_OF.get(country, "en"),
            isConfigurationModelPreviewer=False,
            organizationTypeId=None,
        )
        orgs.append(row)
    t.main_org = main_org
    t.org_ids = [o["id"] for o in orgs]
    return orgs


def _users(t: _Tenant) -> list[dict]:
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


def _vats(t: _Tenant) -> list[dict]:
    vats = []
    for i, (name, pct, default) in enumerate(_VATS):
        row = t.audited()
        row.update(name=name, pct=pct, includesVAT=i == 3, defaultVat=default)
        vats.append(row)
    return vats


def _units(t: _Tenant) -> list[dict]:
    units = []
    for code, description in _UNITS:
        row = t.audited()
        row.update(code=code, description=description)
        units.append(row)
    return units


def _categories(t: _Tenant) -> list[dict]:
    rng = t.rng
    categories = []
    for i, name in enumerate(_CATEGORIES):
        row = t.audited()
        parent = categories[rng.randrange(len(categories))]["id"] if i > 4 and i % 2 else None
        row.update(name=name, parentId=parent, order=i)
        categories.append(row)
    return categories


def _features(
    t: _Tenant, categories: list[dict], vats: list[dict], units: list[dict]
) -> list[dict]:
    rng = t.rng
    features = []
    for i in range(400 * t.scale):
        row = t.audited()
        roll = rng.random()
        if i % 36 == 9:  # each awkward name once per 400 features (under 3 %), always there
            name = _ODD_NAMES[(i // 36) % len(_ODD_NAMES)]
        elif roll < 0.02:
            name = None
        else:
            name = " ".join(rng.sample(_WORDS, rng.randint(1, 3))) + f" {i}"
        # A discount line item (negative price) or a free one is rare, as in a real catalogue.
        category = rng.choices(categories, weights=_CATEGORY_WEIGHTS)[0]
        if category["name"] == "Discounts":
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


def _feature_models(t: _Tenant, features: list[dict]) -> list[dict]:
    rng = t.rng
    models = []
    for i in range(10 * t.scale):
        row = t.audited()
        row.update(
            rootFeatureId=rng.choice(features)["id"],
            order=i,
            displayPrices=rng.random() < 0.8,
            hideInShowroom=rng.random() < 0.2,
            hideInOrderEntry=False,
            autodeskUrn=None,
            isLocked=rng.random() < 0.1,
            purchaseDiscount=float(rng.choice([0, 10, 15])),
        )
        models.append(row)
    return models


def _statuses(t: _Tenant) -> list[dict]:
    statuses = []
    for i, name in enumerate(_STATUSES):
        row = t.audited()
        row.update(name=name, order=i, displayInFlow=i < 4, canExpire=i == 1, canArchive=i >= 2)
        statuses.append(row)
    return statuses


def _crm(t: _Tenant, vats: list[dict]) -> tuple[list[dict], list[dict]]:
    """CRM accounts (companies and persons) and one to three contacts each."""
    rng = t.rng
    org_ids = t.org_ids
    accounts, contacts = [], []
    for i in range(150 * t.scale):
        row = t.audited(rng.choice(org_ids))
        city, country = rng.choice(_CITIES)
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


def _quotations(
    t: _Tenant,
    features: list[dict],
    vats: list[dict],
    models: list[dict],
    statuses: list[dict],
    accounts: list[dict],
    contacts: list[dict],
) -> tuple[list[dict], list[dict]]:
    """Quotations with 2-32 lines each; totals add up from the lines."""
    rng = t.rng
    org_ids = t.org_ids
    vat_pct = {v["id"]: v["pct"] for v in vats}
    priced = [f for f in features if f["salesPrice"] is not None]
    contacts_of: dict[str, list[str]] = {}
    for c in contacts:
        contacts_of.setdefault(c["crmAccountId"], []).append(c["id"])
    service = load_service()
    line_template = dict.fromkeys(service.sets["QuotationLines"].properties)
    random_ = rng.random
    quotations, lines = [], []
    for i in range(320 * t.scale):
        q = t.audited(rng.choice(org_ids))
        created = t.moment()
        q["createdDate"] = t.stamp(created)
        account = rng.choice(accounts)
        status = rng.choice(statuses)
        contact_id = rng.choice(contacts_of[account["id"]])
        total = total_vat = 0.0
        line_count = rng.randint(2, 32)
        for n in range(line_count):
            feature = priced[int(random_() * len(priced))]
            quantity = _QUANTITIES[int(random_() * len(_QUANTITIES))]
            discount = _DISCOUNTS[int(random_() * len(_DISCOUNTS))]
            unit_price = feature["salesPrice"]
            amount = round(quantity * unit_price * (1 - discount / 100), 2)
            vat_id = feature["vatId"]
            total += amount
            total_vat += round(amount * (1 + vat_pct[vat_id] / 100), 2)
            line = _quotation_line(
                t,
                template=line_template,
                quotation=q,
                created=created,
                number=n,
                feature=feature,
                quantity=quantity,
                discount=discount,
                amount=amount,
                models=models,
            )
            lines.append(line)
        _complete_quotation(
            t,
            q,
            index=i,
            created=created,
            account=account,
            contact_id=contact_id,
            status=status,
            total=total,
            total_vat=total_vat,
            accounts=accounts,
        )
        quotations.append(q)
    return quotations, lines


def _quotation_line(
    t: _Tenant,
    *,
    template: dict,
    quotation: dict,
    created: datetime,
    number: int,
    feature: dict,
    quantity: float,
    discount: float,
    amount: float,
    models: list[dict],
) -> dict:
    rng = t.rng
    random_ = rng.random
    user_ids = t.user_ids
    q, n = quotation, number
    org_id = q["organizationId"]
    unit_price = feature["salesPrice"]
    vat_id = feature["vatId"]
    line = dict(template)
    roll = random_()
    line.update(
        id=t.guid(),
        createdDate=q["createdDate"],
        updatedDate=q["createdDate"]
        if roll < 0.5
        else t.stamp(created + timedelta(days=roll * 90)),
        organizationId=org_id,
        creatorId=user_ids[int(roll * 7919) % len(user_ids)],
        quotationId=q["id"],
        lineNumber=n + 1,
        articleCode=feature["articleCode"],
        deliverydate=(
            t.stamp(created + timedelta(days=rng.randint(7, 120))) if rng.random() < 0.7 else None
        ),
        description=feature["name"] if rng.random() < 0.9 else f"{feature['name']} – custom",
        featureId=feature["id"],
        featureModelNodeId=None,
        quantity=quantity,
        imageValue=None,
        textValue="Engraving: “Anna’s bike”" if rng.random() < 0.01 else None,
        parentLineId=None,
        groupedRootLine=n == 0,
        groupId=None,
        parentGroupId=None,
        groupOrder=0,
        groupTitle=None,
        groupAmount=1,
        addedFromConfiguration=rng.random() < 0.6,
        configurationId=None,
        vatId=vat_id,
        discountPct=discount,
        marginPct=feature["marginPct"],
        purchasePriceDiscountPct=0.0,
        groupDiscountPct=0.0,
        defaultPurchasePriceDiscountPct=0.0,
        unitPrice=unit_price,
        originalUnitPrice=unit_price,
        unitOfMeasurement=rng.choice(_UNITS)[0],
        file=None,
        featureModelId=rng.choice(models)["id"] if rng.random() < 0.6 else None,
    )
    return line


def _complete_quotation(
    t: _Tenant,
    q: dict,
    *,
    index: int,
    created: datetime,
    account: dict,
    contact_id: str,
    status: dict,
    total: float,
    total_vat: float,
    accounts: list[dict],
) -> None:
    """The quotation's own fields, once its lines are known."""
    rng = t.rng
    user_ids = t.user_ids
    i = index
    expires = created + timedelta(days=30)
    q.update(
        sellerId=q["organizationId"],
        sellerContactId=rng.choice(user_ids),
        debtorId=account["id"],
        debtorContactId=contact_id,
        shipToId=account["id"] if rng.random() < 0.8 else rng.choice(accounts)["id"],
        shipToContactId=contact_id if rng.random() < 0.8 else None,
        languageIso=rng.choice(["nl", "en", "de", "fr"]),
        currencyIso=rng.choice(["EUR", "EUR", "EUR", "USD", "GBP"]),
        synced=rng.random() < 0.5,
        quotationNumber=100000 + i,
        versionNumber=rng.choice([1, 1, 1, 2, 3]),
        status=status["name"],
        statusId=status["id"],
        subject=rng.choice(
            ["Offerte e-bike", "Quote, fleet of 12", 'Order "rush"', "Ångström bikes", None]
        ),
        totalPrice=round(total, 2),
        totalPriceInclVat=round(total_vat, 2),
        isVerified=rng.random() < 0.4,
        customerReference=f"PO-{rng.randrange(10**5)}" if rng.random() < 0.5 else None,
        quotationReference=None,
        deliverydate=t.stamp(created + timedelta(days=45)) if rng.random() < 0.6 else None,
        remarks=("Lorem ipsum dolor sit amet. " * 40).strip() if i % 50 == 3 else None,
        expiresDate=t.stamp(expires) if rng.random() < 0.85 else EMPTY_DATE,
        quotationTemplateId=None,
        propertyIds=[],
        exchangeRate=1.0,
        purchaseDiscount=0.0,
    )


def _in_property_order(out: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Every entity set of the service, each row with the set's properties in model order."""
    service = load_service()
    result: dict[str, list[dict]] = {}
    for name, spec in service.sets.items():
        rows = out.get(name, [])
        props = list(spec.properties)
        if rows and list(rows[0]) == props and name == "QuotationLines":
            result[name] = rows  # built from a template in property order
        else:
            result[name] = [{p: row.get(p) for p in props} for row in rows]
    return result
