"""The Quotation and Configurator APIs' operations as DataFrames, from the descriptions the
package ships: ``%elfsquad_describe /quotation/1`` lists them, ``%elfsquad_describe
/configurator/3/configurator/new/E-Bike`` shows one (its parameters, body and answer fields).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .. import apispec
from ..core.odata import CONFIGURATOR_ROOT, CONFIGURATOR_V3_ROOT, QUOTATION_ROOT
from ..errors import UsageError

__all__ = ["api_of", "describe_api"]

_APIS = {
    "quotation": ("quotation", QUOTATION_ROOT),
    "configurator": ("configurator", CONFIGURATOR_V3_ROOT),
}
_ROOTS = {
    QUOTATION_ROOT: "quotation",
    CONFIGURATOR_ROOT: "configurator",
    CONFIGURATOR_V3_ROOT: "configurator",
}
_METHODS = ("get", "post", "put", "patch", "delete")


def api_of(target: str) -> tuple[str, str, str] | None:
    """(the API's description, its root, the rest of the path) when ``target`` names the
    Quotation or Configurator API (``quotation``, ``/configurator/3/...``), else ``None``."""
    text = target.strip()
    if text.lower() in _APIS:
        name, root = _APIS[text.lower()]
        return name, root, ""
    path = "/" + text.lstrip("/")
    for root, name in _ROOTS.items():
        if (path + "/").lower().startswith(root):
            return name, root, path[len(root) :].strip("/")
    return None


def describe_api(target: str) -> pd.DataFrame:
    """The operations of an API (one row each), or the fields of the operation a path names."""
    found = api_of(target)
    if found is None:
        raise UsageError(f"{target!r} is not a path of the Quotation or Configurator API.")
    name, root, rest = found
    operations = _operations(name, root)
    if not rest:
        return pd.DataFrame(
            [
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary"),
                    "parameters": ", ".join(p["name"] for p in op.get("parameters", [])) or None,
                    "body": ", ".join(_fields(_body_schema(op))) or None,
                }
                for path, method, op in operations
            ]
        )
    matching = [(p, m, op) for p, m, op in operations if _matches(root + rest, p)]
    if not matching:
        close = sorted({p for p, _, _ in operations if p.split("/")[3:4] == rest.split("/")[:1]})
        raise UsageError(
            f"The {name.title()} API has no path like {root}{rest}.",
            f"Its paths: %elfsquad_describe {root.rstrip('/')}"
            + (f" (close: {', '.join(close[:3])})" if close else ""),
        )
    return pd.DataFrame([row for match in matching for row in _operation_rows(*match)])


def _operations(name: str, root: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(path on ``root``, method, operation) of every operation of the description."""
    version = root.strip("/").split("/")[-1]
    found = []
    for template, item in apispec.load(name).get("paths", {}).items():
        path = template.replace("{version}", version)
        for method in _METHODS:
            if isinstance(item.get(method), dict):
                found.append((path, method, item[method]))
    return found


def _matches(path: str, template: str) -> bool:
    typed, segments = path.strip("/").split("/"), template.strip("/").split("/")
    return len(typed) == len(segments) and all(
        s.startswith("{") or t.lower() == s.lower() for t, s in zip(typed, segments, strict=True)
    )


def _body_schema(operation: dict[str, Any]) -> dict[str, Any]:
    content = (operation.get("requestBody") or {}).get("content") or {}
    return next((media.get("schema") or {} for media in content.values()), {})


def _answer_schema(operation: dict[str, Any]) -> dict[str, Any]:
    content = ((operation.get("responses") or {}).get("200") or {}).get("content") or {}
    return next((media.get("schema") or {} for media in content.values()), {})


def _fields(schema: dict[str, Any]) -> list[str]:
    if schema.get("type") == "array":
        schema = schema.get("items") or {}
    return list((schema.get("properties") or {}).keys())


def _type(schema: dict[str, Any]) -> str:
    kind = schema.get("format") or schema.get("type") or "object"
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items') or {})}"
    return str(kind)


def _operation_rows(path: str, method: str, operation: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields of one operation: its parameters, body members and answer members."""
    head = {"method": method.upper(), "path": path}
    rows = [
        {
            **head,
            "part": parameter["in"],
            "name": parameter["name"],
            "type": _type(parameter.get("schema") or {}),
            "required": bool(parameter.get("required")),
            "description": parameter.get("description"),
        }
        for parameter in operation.get("parameters", [])
        if parameter["name"] != "version" or "{version}" in path  # filled in from the path
    ]
    for part, schema in (("body", _body_schema(operation)), ("answer", _answer_schema(operation))):
        if schema.get("type") == "array":
            schema = schema.get("items") or {}
        for field, field_schema in (schema.get("properties") or {}).items():
            rows.append(
                {
                    **head,
                    "part": part,
                    "name": field,
                    "type": _type(field_schema),
                    "required": False,
                    "description": None,
                }
            )
    if not rows:
        rows.append({**head, "part": None, "name": None, "type": None, "required": False})
    return rows
