"""The Data API's entity sets as the sandbox sees them, read from the packaged ``data_api.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from xml.sax.saxutils import quoteattr

__all__ = [
    "NAMESPACE",
    "CORE_DESCRIPTION",
    "Navigation",
    "EntitySetSpec",
    "ServiceSpec",
    "read_apispec",
    "load_service",
    "csdl",
]

NAMESPACE = "Default"
CORE_DESCRIPTION = "Org.OData.Core.V1.Description"


@dataclass(frozen=True)
class Navigation:
    """A navigation property: target set (``None`` when unknown) and foreign-key property."""

    name: str
    target: str | None
    foreign_key: str | None
    collection: bool


@dataclass
class EntitySetSpec:
    """One entity set: key, properties with their Edm types, navigation, allowed methods."""

    name: str
    entity_type: str
    key: str
    properties: dict[str, str]
    navigation: dict[str, Navigation] = field(default_factory=dict)
    collection_methods: tuple[str, ...] = ("GET",)
    entity_methods: tuple[str, ...] = ("GET",)
    bulk_actions: tuple[str, ...] = ()
    descriptions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # ASP.NET Core OData resolves names case-insensitively: `QuotationId`, `Feature`.
        self._property_of = {name.lower(): name for name in self.properties}
        self._navigation_of = {name.lower(): name for name in self.navigation}

    def edm(self, prop: str) -> str:
        """The Edm type of a property (``Edm.String`` for unknown names)."""
        return self.properties.get(prop, "Edm.String")

    def property_name(self, name: str) -> str | None:
        """The model's name of the structural property ``name`` (any casing), or ``None``."""
        return self._property_of.get(name.lower())

    def navigation_named(self, name: str) -> Navigation | None:
        """The navigation property ``name`` (any casing), or ``None``."""
        real = self._navigation_of.get(name.lower())
        return self.navigation[real] if real else None

    def text_properties(self) -> list[str]:
        """The ``Edm.String`` properties, which ``$search`` looks in."""
        return [name for name, edm in self.properties.items() if edm == "Edm.String"]


@dataclass
class ServiceSpec:
    """Every entity set, found by name in any casing."""

    sets: dict[str, EntitySetSpec]
    _lower: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lower = {name.lower(): name for name in self.sets}

    def find(self, name: str) -> EntitySetSpec | None:
        """The set called ``name`` (case-insensitive), or ``None``."""
        real = self._lower.get(name.lower())
        return self.sets[real] if real else None


def read_apispec(filename: str) -> bytes | None:
    """The bytes of a packaged API description, or ``None`` when it is not shipped."""
    resource = resources.files("elfsquad_magic.apispec").joinpath(filename)
    try:
        return resource.read_bytes()
    except (FileNotFoundError, OSError):
        return None


@lru_cache(maxsize=1)
def load_service() -> ServiceSpec:
    """The Data API description shipped in ``elfsquad_magic/apispec/data_api.json``."""
    raw = read_apispec("data_api.json")
    if raw is None:
        raise RuntimeError("elfsquad_magic/apispec/data_api.json is missing from the package")
    doc = json.loads(raw)
    sets = {}
    for item in doc["entitySets"]:
        methods = item.get("methods", {})
        sets[item["name"]] = EntitySetSpec(
            name=item["name"],
            entity_type=item["entityType"],
            key=item["key"],
            properties={p["name"]: p["type"] for p in item["properties"]},
            navigation={
                n["name"]: Navigation(n["name"], n["target"], n["foreignKey"], n["collection"])
                for n in item["navigation"]
            },
            collection_methods=tuple(methods.get("collection", ["GET"])),
            entity_methods=tuple(methods.get("entity", ["GET"])),
            bulk_actions=tuple(methods.get("bulk", [])),
            descriptions={
                p["name"]: p["description"] for p in item["properties"] if "description" in p
            },
        )
    return ServiceSpec(sets)


def csdl(service: ServiceSpec) -> str:
    """The service's ``$metadata`` document (OData v4 CSDL XML)."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        "<edmx:DataServices>",
        f'<Schema Namespace="{NAMESPACE}" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
    ]
    seen_types = set()
    for spec in service.sets.values():
        if spec.entity_type in seen_types:
            continue
        seen_types.add(spec.entity_type)
        out.append(f"<EntityType Name={quoteattr(spec.entity_type)}>")
        out.append(f"<Key><PropertyRef Name={quoteattr(spec.key)}/></Key>")
        for name, edm in spec.properties.items():
            nullable = ' Nullable="false"' if name == spec.key else ""
            head = f"<Property Name={quoteattr(name)} Type={quoteattr(edm)}{nullable}"
            note = spec.descriptions.get(name)
            if note is None:
                out.append(head + "/>")
            else:
                annotation = f'<Annotation Term="{CORE_DESCRIPTION}" String={quoteattr(note)}/>'
                out.append(f"{head}>{annotation}</Property>")
        for nav in spec.navigation.values():
            target = service.sets.get(nav.target) if nav.target else None
            type_name = f"{NAMESPACE}.{target.entity_type}" if target else "Edm.EntityType"
            if nav.collection:
                type_name = f"Collection({type_name})"
            out.append(
                f"<NavigationProperty Name={quoteattr(nav.name)} Type={quoteattr(type_name)}/>"
            )
        out.append("</EntityType>")
    out.append('<EntityContainer Name="Container">')
    for spec in service.sets.values():
        out.append(
            f"<EntitySet Name={quoteattr(spec.name)} "
            f"EntityType={quoteattr(NAMESPACE + '.' + spec.entity_type)}>"
        )
        for nav in spec.navigation.values():
            if nav.target:
                out.append(
                    f"<NavigationPropertyBinding Path={quoteattr(nav.name)} "
                    f"Target={quoteattr(nav.target)}/>"
                )
        out.append("</EntitySet>")
    out.extend(["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"])
    return "\n".join(out)
