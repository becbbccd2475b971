"""The property names a request's query options use, and the close names of those the entity
set does not have: the "did you mean" of a refused ``$select=nme``, from the schema alone."""

from __future__ import annotations

import difflib
import re

from .request import ODataRequest, split_outside_quotes
from .schema import EntitySet

__all__ = ["misspelt_properties", "names_in_options"]

# OData words that are not property names, in $filter and $orderby.
_WORDS = frozenset(
    {"eq", "ne", "gt", "ge", "lt", "le", "and", "or", "not", "in", "has", "add", "sub", "mul"}
    | {"div", "mod", "true", "false", "null", "asc", "desc", "any", "all"}
)
_LITERAL = re.compile(r"'(?:[^']|'')*'")
# A name that is not part of a path (a/b), a function call (f(...)) or a qualified enum type.
_IDENTIFIER = re.compile(r"(?<![\w.$@/-])([A-Za-z_]\w*)(?![\w-]*\s*[.(])")
_NUMBERISH = re.compile(r"^\d|^[0-9a-fA-F]{8}$")


def names_in_options(request: ODataRequest) -> list[str]:
    """The property (and navigation) names of ``$select``, ``$orderby``, ``$expand`` and
    ``$filter``, first part of a path only (``category/name`` -> ``category``), in order."""
    names: list[str] = []
    for option in ("$select", "$expand"):
        value = request.option(option) or ""
        for part in split_outside_quotes(value, ","):
            head = re.split(r"[/(;]", part.strip(), maxsplit=1)[0].strip()
            if head and head != "*":
                names.append(head)
    for part in split_outside_quotes(request.option("$orderby") or "", ","):
        words = part.split()
        if words:
            names.append(words[0].split("/")[0])
    text = _LITERAL.sub(" ", request.option("$filter") or "")
    for match in _IDENTIFIER.finditer(text):
        word = match.group(1)
        if word.lower() not in _WORDS and not _NUMBERISH.match(word):
            names.append(word)
    return list(dict.fromkeys(names))


def misspelt_properties(
    request: ODataRequest, entity_set: EntitySet, said: str | None = None
) -> dict[str, list[str]]:
    """Each name the options use that the set has neither as a property nor a navigation (in
    any casing), with the set's names that look like it, best first; with ``said`` (the
    service's message), only the names it mentions."""
    known = [*entity_set.properties, *entity_set.navigation]
    by_lower = {name.lower(): name for name in known}
    found: dict[str, list[str]] = {}
    for name in names_in_options(request):
        if name.lower() in by_lower or (said and name.lower() not in said.lower()):
            continue
        close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)
        found[name] = [by_lower[low] for low in close]
    return found
