"""The Data API's entity sets as the sandbox sees them, read from the packaged ``data_api.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from xml.sax.saxutils import quoteattr

NAMESPACE = "Default"


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

    def edm(self, prop: str) -> str:
        """The Edm type of a property (``Edm.String`` for unknown names)."""
        return self.properties.get(prop, "Edm.String")


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
            out.append(f"<Property Name={quoteattr(name)} Type={quoteattr(edm)}{nullable}/>")
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
