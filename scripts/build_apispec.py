"""Build ``elfsquad_magic/apispec/data_api.json`` from the Data API's OpenAPI description.

The sandbox (tables, ``$metadata``, validation) and completion read this compact file at runtime,
so the package works without the reference folder. Run from the repository root::

    python scripts/build_apispec.py [path/to/data-api.openapi.json]

Navigation targets are inferred, in this order (a target stays ``null`` when none applies):

1. a collection navigation whose items carry a ``title`` -> the set of the entity type so named;
2. a to-one navigation ``nav`` -> the set whose entity type is ``Nav`` (``category`` -> Category);
3. the longest camelCase suffix of ``nav`` naming an entity type
   (``rootFeature`` -> Feature, ``childOrganization`` -> Organization);
4. a short table of known Elfsquad aliases (``debtor`` -> CrmAccount, ``debtorContact`` ->
   CrmContact...).

The foreign key of a to-one navigation is ``<nav>Id`` when the entity has that property.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "elfsquad-api" / "data-api.openapi.json"
TARGET = ROOT / "elfsquad_magic" / "apispec" / "data_api.json"

# Navigation names whose entity type is not spelled in the name (Quotation parties).
KNOWN_ALIASES = {
    "debtor": "CrmAccount",
    "shipTo": "CrmAccount",
    "debtorContact": "CrmContact",
    "shipToContact": "CrmContact",
    "seller": "Organization",
    "sellerContact": "User",
}

_SET_PATH = re.compile(r"^/([A-Za-z]+)$")
_KEY_PATH = re.compile(r"^/([A-Za-z]+)\(\{(\w+)\}\)$")
_BULK_PATH = re.compile(r"^/([A-Za-z]+)/Default\.(Bulk\w+)$")


def _item_schema(get_op: dict) -> dict:
    schema = get_op["responses"]["200"]["content"]["application/json"]["schema"]
    return schema["properties"]["value"]["items"]


def _merged_properties(schema: dict) -> tuple[str | None, dict]:
    """Properties of an item schema, following ``allOf`` (FeaturesPivot extends Feature)."""
    if "allOf" in schema:
        title, props = None, {}
        for part in schema["allOf"]:
            part_title, part_props = _merged_properties(part)
            props.update(part_props)
            title = part_title or title
        return schema.get("title") or title, props
    return schema.get("title"), schema.get("properties", {})


def edm_type(schema: dict) -> str:
    """The Edm type of an OpenAPI property schema."""
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "array":
        return f"Collection({edm_type(schema.get('items', {}))})"
    if kind == "string":
        return {"uuid": "Edm.Guid", "date-time": "Edm.DateTimeOffset", "date": "Edm.Date"}.get(
            fmt, "Edm.String"
        )
    if kind == "number":
        return "Edm.Double" if fmt in ("double", "float") else "Edm.Decimal"
    if kind == "integer":
        return "Edm.Int64" if fmt == "int64" else "Edm.Int32"
    if kind == "boolean":
        return "Edm.Boolean"
    if kind == "object":
        # Complex values (FileValue) travel as JSON objects; the sandbox keeps them as they are.
        return "Edm.Untyped"
    # Empty schemas are enums (``type``, ``status``): Elfsquad sends their names as strings.
    return "Edm.String"


def _expand_names(get_op: dict) -> list[str]:
    for param in get_op.get("parameters", []):
        if param.get("name") == "$expand":
            return [n for n in param["schema"]["items"].get("enum", []) if n != "*"]
    return []


def _camel_suffixes(name: str) -> list[str]:
    """``rootFeature`` -> ``["RootFeature", "Feature"]`` (longest first)."""
    words = re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", name)
    return ["".join(w[:1].upper() + w[1:] for w in words[i:]) for i in range(len(words))]


def build(spec: dict) -> dict:
    """The compact description of every entity set in ``spec``."""
    paths = spec["paths"]
    keys: dict[str, str] = {}
    entity_methods: dict[str, list[str]] = {}
    bulk: dict[str, list[str]] = {}
    for path, ops in paths.items():
        if m := _KEY_PATH.match(path):
            keys[m.group(1)] = m.group(2)
            entity_methods[m.group(1)] = sorted(op.upper() for op in ops)
        elif m := _BULK_PATH.match(path):
            bulk.setdefault(m.group(1), []).append(m.group(2))

    raw = []
    for path, ops in paths.items():
        m = _SET_PATH.match(path)
        if not m or "get" not in ops:
            continue
        name = m.group(1)
        title, props = _merged_properties(_item_schema(ops["get"]))
        raw.append((name, title or name, props, _expand_names(ops["get"]), sorted(ops)))

    set_of_type = {}
    for name, title, *_ in raw:
        set_of_type.setdefault(title, name)  # Features wins over FeaturesPivot (same title)

    entity_sets = []
    for name, title, props, navs, set_ops in raw:
        properties, navigation = [], []
        for prop_name, schema in props.items():
            if prop_name in navs:
                navigation.append(_navigation(prop_name, schema, props, set_of_type))
            else:
                prop = {"name": prop_name, "type": edm_type(schema)}
                if schema.get("description"):
                    # Deprecation notes such as Quotations.status ("Use the StatusId property
                    # instead"): served as Core.Description, shown by %elfsquad_describe.
                    prop["description"] = schema["description"]
                properties.append(prop)
        entity_sets.append(
            {
                "name": name,
                "entityType": title,
                "key": keys.get(name, "id"),
                "methods": {
                    "collection": sorted(op.upper() for op in set_ops),
                    "entity": entity_methods.get(name, ["GET"]),
                    "bulk": sorted(bulk.get(name, [])),
                },
                "properties": properties,
                "navigation": navigation,
            }
        )
    return {
        "source": "data-api.openapi.json",
        "version": spec.get("info", {}).get("version"),
        "namespace": "Default",
        "entitySets": sorted(entity_sets, key=lambda s: s["name"]),
    }


def _navigation(name: str, schema: dict, props: dict, set_of_type: dict[str, str]) -> dict:
    if schema.get("type") == "array":
        item_title = schema.get("items", {}).get("title")
        return {
            "name": name,
            "collection": True,
            "target": set_of_type.get(item_title) if item_title else None,
            "foreignKey": None,
        }
    target = None
    for candidate in _camel_suffixes(name):
        if candidate in set_of_type:
            target = set_of_type[candidate]
            break
    if target is None and name in KNOWN_ALIASES:
        target = set_of_type.get(KNOWN_ALIASES[name])
    foreign_key = f"{name}Id" if f"{name}Id" in props else None
    return {
        "name": name,
        "collection": False,
        "target": target if foreign_key else None,
        "foreignKey": foreign_key,
    }


def main(argv: list[str] | None = None) -> int:
    """Read the OpenAPI file (argument or the shared reference copy) and write data_api.json."""
    args = sys.argv[1:] if argv is None else argv
    source = Path(args[0]) if args else DEFAULT_SOURCE
    spec = json.loads(source.read_text(encoding="utf-8"))
    compact = build(spec)
    TARGET.write_text(json.dumps(compact, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    navs = [n for s in compact["entitySets"] for n in s["navigation"]]
    print(
        f"wrote {TARGET.relative_to(ROOT)}: {len(compact['entitySets'])} entity sets, "
        f"{sum(n['target'] is not None for n in navs)}/{len(navs)} navigation targets resolved"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
