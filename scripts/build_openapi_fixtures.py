"""Write the OpenAPI files the sandbox's validation test reads, from the reference folder.

CI has no ``../shared``, so the test reads gzip copies committed under
``tests/sandbox/openapi/``. Run from the repository root after the reference changes::

    python scripts/build_openapi_fixtures.py [path/to/elfsquad-api]

The reference files inline every schema; a recursive one is cut with a marker string
``"circular(Title)"`` where a schema should be, which no validator reads. Each marker becomes a
``$ref`` to ``components.schemas.Title``, the first inline schema with that title; an operation
tagged ``null`` loses that tag (see ``repair``). Of the Data
API only the paths that are not entity-set CRUD are kept (functions, ``GenerateDocument``).
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "elfsquad-api"
TARGET = ROOT / "tests" / "sandbox" / "openapi"
_MARKER = re.compile(r"^circular\((\w+)\)$")


def _titled(node: object, found: dict) -> None:
    if isinstance(node, dict):
        title = node.get("title")
        if isinstance(title, str) and title not in found and node.get("type") == "object":
            found[title] = node
        for value in node.values():
            _titled(value, found)
    elif isinstance(node, list):
        for value in node:
            _titled(value, found)


def _replace(node: object, wanted: set) -> object:
    if isinstance(node, str) and (m := _MARKER.match(node)):
        wanted.add(m.group(1))
        return {"$ref": f"#/components/schemas/{m.group(1)}"}
    if isinstance(node, dict):
        return {k: _replace(v, wanted) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace(v, wanted) for v in node]
    return node


def resolve_markers(spec: dict) -> dict:
    """``spec`` with every circular marker a ``$ref`` into ``components.schemas``."""
    titled: dict = {}
    _titled(spec, titled)
    wanted: set = set()
    out = _replace(spec, wanted)
    schemas = out.setdefault("components", {}).setdefault("schemas", {})
    pending = set(wanted)
    while pending:
        name = pending.pop()
        if name in schemas:
            continue
        more: set = set()
        schemas[name] = _replace(titled[name], more)
        pending |= more - set(schemas)
    return out


def repair(spec: dict) -> dict:
    """The few places where the reference is not valid OpenAPI: an operation tagged ``null``."""
    for ops in spec["paths"].values():
        for op in ops.values():
            if isinstance(op, dict) and "tags" in op:
                op["tags"] = [t for t in op["tags"] if isinstance(t, str)]
    return spec


def data_api_extras(spec: dict) -> dict:
    """The Data API's paths that are not an entity set's own (functions, GenerateDocument)."""
    keep = {p: ops for p, ops in spec["paths"].items() if "$functions" in p or "Generate" in p}
    return {**{k: v for k, v in spec.items() if k != "paths"}, "paths": keep}


def write(name: str, spec: dict) -> Path:
    """Check ``spec`` as OpenAPI 3.0 (the test skips that slow check), write it gzipped (no
    timestamp, so a rebuild changes nothing)."""
    from openapi_spec_validator import OpenAPIV30SpecValidator

    OpenAPIV30SpecValidator(spec).validate()
    TARGET.mkdir(parents=True, exist_ok=True)
    path = TARGET / f"{name}.json.gz"
    data = json.dumps(spec, separators=(",", ":"), ensure_ascii=False).encode()
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(data)
    return path


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    for name in ("quotation-api.openapi", "configurator-api.openapi"):
        spec = json.loads((source / f"{name}.json").read_text(encoding="utf-8"))
        path = write(name, repair(resolve_markers(spec)))
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KiB")
    data = json.loads((source / "data-api.openapi.json").read_text(encoding="utf-8"))
    path = write("data-api-extras.openapi", data_api_extras(data))
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
