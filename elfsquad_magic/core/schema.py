"""The Data API's schema, read from its OData v4 ``$metadata`` (CSDL XML)."""

from __future__ import annotations

import difflib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

__all__ = ["Property", "NavigationProperty", "EntitySet", "ServiceSchema", "parse_metadata"]

_EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
_EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


@dataclass(frozen=True)
class Property:
    """A structural property: its name, Edm type (``Edm.Decimal``...), nullability."""

    name: str
    edm_type: str
    nullable: bool = True
    is_collection: bool = False
    description: str | None = None  # the service's Core.Description (e.g. "legacy: use X")


@dataclass(frozen=True)
class NavigationProperty:
    """A navigation property and the entity set it leads to (``None`` when not bound)."""

    name: str
    target_type: str
    target_set: str | None
    is_collection: bool = False


@dataclass
class EntitySet:
    """An entity set with its key and the properties of its entity type."""

    name: str
    entity_type: str
    key: tuple[str, ...]
    properties: dict[str, Property] = field(default_factory=dict)
    navigation: dict[str, NavigationProperty] = field(default_factory=dict)

    def property_named(self, name: str) -> Property | None:
        """The structural property ``name`` in any casing (``SalesPrice``), or ``None``."""
        return _find_ci(self.properties, name)

    def navigation_named(self, name: str) -> NavigationProperty | None:
        """The navigation property ``name`` in any casing (``Feature``), or ``None``."""
        return _find_ci(self.navigation, name)

    def edm_types(self) -> dict[str, str]:
        """Property name -> Edm type (collections as ``Collection(Edm.X)``)."""
        return {
            p.name: f"Collection({p.edm_type})" if p.is_collection else p.edm_type
            for p in self.properties.values()
        }


@dataclass
class ServiceSchema:
    """Every entity set of the service, looked up case-insensitively."""

    entity_sets: dict[str, EntitySet]

    def find(self, name: str) -> EntitySet | None:
        """The entity set called ``name`` in any casing, or ``None``."""
        return _find_ci(self.entity_sets, name)

    def close_matches(self, name: str, limit: int = 3) -> list[str]:
        """Entity-set names that look like ``name`` (typos, singular/plural), best first."""
        by_lower = {set_name.lower(): set_name for set_name in self.entity_sets}
        lowered = name.strip().lower()
        found = difflib.get_close_matches(lowered, list(by_lower), n=limit, cutoff=0.6)
        if not found:
            found = [low for low in sorted(by_lower) if low.startswith(lowered[:4])][:limit]
        return [by_lower[low] for low in found]

    def column_names(self, name: str, selected: list[str]) -> list[str]:
        """``$select`` names as the service answers them: ``Name`` -> ``name`` (names the
        schema does not know are kept as written)."""
        entity_set = self.find(name)
        if entity_set is None:
            return selected
        out = []
        for item in selected:
            found = entity_set.property_named(item) or entity_set.navigation_named(item)
            out.append(found.name if found is not None else item)
        return out

    def edm_types_for(self, name: str) -> dict[str, str] | None:
        """Edm types of the rows of set ``name``: its properties, and ``nav.property`` for the
        properties of each to-one navigation (the columns an ``$expand`` adds); ``None`` for
        an unknown set."""
        entity_set = self.find(name)
        if entity_set is None:
            return None
        types = entity_set.edm_types()
        for nav in entity_set.navigation.values():
            target = self.find(nav.target_set) if nav.target_set else None
            if target is None or nav.is_collection:
                continue
            for prop, edm_type in target.edm_types().items():
                types[f"{nav.name}.{prop}"] = edm_type
        return types

    def key_for(self, name: str) -> tuple[str, ...] | None:
        """The key properties of set ``name``, or ``None`` (unknown set, or no key)."""
        entity_set = self.find(name)
        return entity_set.key if entity_set is not None and entity_set.key else None


def _find_ci(mapping: dict, name: str):  # noqa: ANN202 - a dict lookup in any casing
    if name in mapping:
        return mapping[name]
    lowered = name.lower()
    return next((value for key, value in mapping.items() if key.lower() == lowered), None)


def _description(element: ET.Element) -> str | None:
    for annotation in element.findall(f"{_EDM}Annotation"):
        if annotation.get("Term", "").endswith(("Core.V1.Description", "Core.Description")):
            return annotation.get("String")
    return None


def _unwrap_collection(type_name: str) -> tuple[str, bool]:
    if type_name.startswith("Collection(") and type_name.endswith(")"):
        return type_name[len("Collection(") : -1], True
    return type_name, False


def parse_metadata(xml_text: str | bytes) -> ServiceSchema:
    """Parse CSDL XML into a :class:`ServiceSchema`; raises ``ValueError`` when it is not CSDL."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"$metadata is not XML: {exc}") from None
    if root.tag != f"{_EDMX}Edmx":
        raise ValueError("$metadata is not an OData v4 CSDL document")

    types: dict[str, ET.Element] = {}
    containers: list[ET.Element] = []
    for schema in root.iter(f"{_EDM}Schema"):
        namespace = schema.get("Namespace", "")
        for entity_type in schema.findall(f"{_EDM}EntityType"):
            types[f"{namespace}.{entity_type.get('Name')}"] = entity_type
        containers.extend(schema.findall(f"{_EDM}EntityContainer"))

    entity_sets: dict[str, EntitySet] = {}
    for container in containers:
        for set_element in container.findall(f"{_EDM}EntitySet"):
            type_name = set_element.get("EntityType", "")
            type_element = types.get(type_name)
            if type_element is None:
                continue
            bindings = {
                b.get("Path", ""): b.get("Target", "")
                for b in set_element.findall(f"{_EDM}NavigationPropertyBinding")
            }
            key = tuple(
                ref.get("Name", "") for ref in type_element.findall(f"{_EDM}Key/{_EDM}PropertyRef")
            )
            properties = {}
            for prop in type_element.findall(f"{_EDM}Property"):
                edm_type, is_collection = _unwrap_collection(prop.get("Type", "Edm.String"))
                properties[prop.get("Name", "")] = Property(
                    name=prop.get("Name", ""),
                    edm_type=edm_type,
                    nullable=prop.get("Nullable", "true").lower() != "false",
                    is_collection=is_collection,
                    description=_description(prop),
                )
            navigation = {}
            for nav in type_element.findall(f"{_EDM}NavigationProperty"):
                target_type, is_collection = _unwrap_collection(nav.get("Type", ""))
                name = nav.get("Name", "")
                navigation[name] = NavigationProperty(
                    name=name,
                    target_type=target_type,
                    target_set=bindings.get(name) or None,
                    is_collection=is_collection,
                )
            set_name = set_element.get("Name", "")
            entity_sets[set_name] = EntitySet(
                name=set_name,
                entity_type=type_name,
                key=key,
                properties=properties,
                navigation=navigation,
            )
    return ServiceSchema(entity_sets=entity_sets)
