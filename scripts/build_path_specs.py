"""Write compact copies of the Quotation and Configurator API descriptions into the package.

The copies keep what path completion, ``%elfsquad_describe`` and the sandbox's swagger documents
need (paths, methods, summaries, tags, parameter names and places, and the top-level properties
of JSON bodies and answers with their types) and drop the deeper schemas, which make up nearly
all of the 2.4 MB configurator description. The result is still a valid OpenAPI 3 document.

Usage: ``python scripts/build_path_specs.py [--source DIR] [--target DIR]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "elfsquad-api"
DEFAULT_TARGET = ROOT / "elfsquad_magic" / "apispec"

# source file -> shipped file
SPECS = {
    "quotation-api.openapi.json": "quotation_api.json",
    "configurator-api.openapi.json": "configurator_api.json",
}

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _shallow_schema(schema: Any, levels: int = 0) -> dict[str, Any]:
    """The type and format of a schema (and of array items), and ``levels`` levels of an
    object's properties: enough to read, small to ship."""
    if not isinstance(schema, dict):
        return {}
    kept = {key: schema[key] for key in ("type", "format", "nullable") if key in schema}
    if schema.get("type") == "array":
        kept["items"] = _shallow_schema(schema.get("items"), levels)
    properties = schema.get("properties")
    if levels > 0 and isinstance(properties, dict):
        kept["properties"] = {
            name: _shallow_schema(value, levels - 1) for name, value in properties.items()
        }
    return kept


def _json_content(content: dict[str, Any]) -> dict[str, Any]:
    """The JSON media type of a content map (one is enough: the others repeat it)."""
    for media_type in ("application/json", "text/json", "application/*+json"):
        if media_type in content:
            return {media_type: {"schema": _shallow_schema(content[media_type].get("schema"), 1)}}
    return {
        media_type: {"schema": _shallow_schema((media or {}).get("schema"))}
        for media_type, media in content.items()
    }


def _first_sentence(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:120]


def _compact_parameter(parameter: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {"name": parameter["name"], "in": parameter["in"]}
    # Path parameters are always required in OpenAPI 3.
    if parameter.get("required") or parameter["in"] == "path":
        kept["required"] = True
    if parameter.get("description"):
        kept["description"] = _first_sentence(parameter["description"])
    kept["schema"] = _shallow_schema(parameter.get("schema"))
    return kept


def _compact_operation(operation: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    if operation.get("tags"):
        kept["tags"] = list(operation["tags"])
    summary = operation.get("summary") or operation.get("description") or ""
    if summary:
        kept["summary"] = _first_sentence(summary)
    if operation.get("operationId"):
        kept["operationId"] = operation["operationId"]
    if operation.get("parameters"):
        kept["parameters"] = [_compact_parameter(p) for p in operation["parameters"]]
    body = operation.get("requestBody")
    if isinstance(body, dict):
        content = body.get("content") or {}
        compact_body: dict[str, Any] = {"content": _json_content(content)}
        if body.get("description"):
            compact_body["description"] = _first_sentence(body["description"])
        if body.get("required"):
            compact_body["required"] = True
        kept["requestBody"] = compact_body
    responses = operation.get("responses") or {"default": {}}
    kept["responses"] = {}
    for status, answer in responses.items():
        compact_answer = {"description": (answer or {}).get("description") or str(status)}
        content = (answer or {}).get("content")
        if str(status).startswith("2") and isinstance(content, dict) and content:
            compact_answer["content"] = _json_content(content)
        kept["responses"][str(status)] = compact_answer
    return kept


def compact_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A valid OpenAPI 3 document with the paths and operations of ``spec`` but no schemas."""
    paths: dict[str, Any] = {}
    for path, item in spec.get("paths", {}).items():
        operations = {
            method: _compact_operation(operation)
            for method, operation in item.items()
            if method in _METHODS and isinstance(operation, dict)
        }
        if operations:
            paths[path] = operations
    return {
        "openapi": spec.get("openapi", "3.0.1"),
        "info": dict(spec.get("info") or {"title": "Elfsquad API", "version": "v1"}),
        "servers": list(spec.get("servers") or []),
        "paths": paths,
    }


def main(argv: list[str] | None = None) -> None:
    """Read the full descriptions from ``--source`` and write the compact copies to ``--target``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--target", type=Path, default=DEFAULT_TARGET)
    args = parser.parse_args(argv)
    for source_name, target_name in SPECS.items():
        spec = json.loads((args.source / source_name).read_text(encoding="utf-8"))
        compact = compact_spec(spec)
        text = json.dumps(compact, indent=1, sort_keys=False, ensure_ascii=False) + "\n"
        target = args.target / target_name
        target.write_text(text, encoding="utf-8")
        print(
            f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}: "
            f"{len(compact['paths'])} paths, {len(text.encode()) // 1024} KB"
        )


if __name__ == "__main__":
    main()
