"""Cell text -> :class:`~.request.ODataRequest`: method, path, query options and JSON body.

``{{name}}`` placeholders take Python values from the notebook. Where a value lands decides
how it is written: inside a ``$filter`` it becomes an OData literal (so a string cannot break out
of the filter), inside a JSON body it becomes JSON, in a path it is percent-encoded, elsewhere
it is ``str(value)``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote, unquote

from .. import apispec
from ..core.literals import to_json_compatible, to_odata_literal
from ..core.odata import (
    BODYLESS_METHODS,
    METHODS,
    QUOTATION_ROOT,
    SCIM_QUERY_OPTIONS,
    SCIM_ROOT,
    SYSTEM_QUERY_OPTIONS,
)
from ..core.request import ODataRequest, split_outside_quotes
from ..errors import InterpolationError, UsageError

__all__ = ["USAGE", "MagicLine", "custom_options", "parse_request", "split_magic_line"]

USAGE = (
    "Usage: %%elfsquad [METHOD] PATH[?query]\n"
    "  METHOD  GET (default), POST, PATCH, PUT or DELETE\n"
    "  PATH    a path on the API host (/data/1/features) or a full URL on it\n"
    "  GET body: one query option per line ($filter=..., $select=..., $orderby=..., $top=...)\n"
    "  POST/PATCH/PUT body: JSON (or --json VAR)"
)

_UNSET: Any = object()

_PLACEHOLDER_EXPR = re.compile(
    r"""^(?P<name>[A-Za-z_]\w*)(?P<rest>(?:\s*\.\s*[A-Za-z_]\w*|\s*\[\s*(?:-?\d+|'[^']*'|"[^"]*")\s*\])*)$"""
)
_ACCESSOR = re.compile(r"""\.\s*(?P<attr>[A-Za-z_]\w*)|\[\s*(?P<key>-?\d+|'[^']*'|"[^"]*")\s*\]""")
# `name=` at the start of a body line opens a new option; other indented lines continue one.
_HOST_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*")
_OPTION_START = re.compile(r"^[?&]?\$?[A-Za-z_][\w.-]*\s*=")
# Path characters a value may keep; everything else (/, ?, #, &, spaces) is percent-encoded.
_PATH_SAFE = "-_.~'()!*,;:@$=+"


@dataclass(frozen=True)
class MagicLine:
    """A magic line split where its request begins: the option tokens before it (values
    included) and the offset of the request (``METHOD PATH...``); ``len(line)`` when none."""

    options: tuple[str, ...]
    request_start: int
    awaits_value: bool  # the last option still waits for its value


def split_magic_line(line: str, value_options: Collection[str]) -> MagicLine:
    """Split ``[options] [METHOD] PATH...``: options are the leading ``-x`` tokens and the values
    of those in ``value_options``. The request keeps its quotes and spaces as written (argparse's
    splitting would mangle a query string), so only the option tokens go through argparse.
    """
    options: list[str] = []
    awaits_value = False
    for match in re.finditer(r"\S+", line):
        token = match.group()
        if awaits_value:
            options.append(token)
            awaits_value = False
            continue
        if not token.startswith("-") or token == "-":
            return MagicLine(tuple(options), match.start(), False)
        options.append(token)
        awaits_value = token.split("=", 1)[0] in value_options and "=" not in token
    return MagicLine(tuple(options), len(line), awaits_value)


def parse_request(
    line: str,
    body: str,
    namespace: Mapping[str, Any],
    *,
    json_value: Any = _UNSET,
) -> ODataRequest:
    """Parse ``METHOD PATH`` and the cell body into an :class:`~.request.ODataRequest`.

    ``json_value`` (from ``--json VAR``) replaces a JSON body. Raises :class:`UsageError` for
    a malformed line or body and :class:`InterpolationError` for a bad ``{{name}}``.
    """
    method, target = _split_line(line)
    path, _, query = target.partition("?")
    path = _interpolate(path, namespace, _render_path)
    params = _query_string_options(query, namespace)
    body = body or ""

    if method in BODYLESS_METHODS:
        if json_value is not _UNSET:
            raise UsageError(
                f"{method} sends no body, so --json cannot be used with it.",
                "Use POST, PATCH or PUT to send JSON.",
            )
        params.extend(_body_options(body, namespace, method, path))
        _check_options(params)
        return ODataRequest(method, path, tuple(params))

    _check_options(params)
    if json_value is not _UNSET:
        if _strip_comments(body).strip():
            raise UsageError(
                "Both a cell body and --json were given.",
                "Send either the JSON in the cell body or a Python value with --json, not both.",
            )
        if json_value is None:
            raise UsageError("The --json variable is None: there is nothing to send.")
        return ODataRequest(method, path, tuple(params), to_json_compatible(json_value))
    return ODataRequest(method, path, tuple(params), _json_body(body, namespace))


def _split_line(line: str) -> tuple[str, str]:
    text = (line or "").strip()
    if not text:
        raise UsageError("No path given.", USAGE)
    match = re.match(r"(\S+)\s*(.*)$", text, re.S)
    assert match is not None  # text is not empty
    first, rest = match.group(1), match.group(2).strip()
    if re.fullmatch(r"[A-Za-z]+", first) and (rest or first.upper() in METHODS):
        method = first.upper()
        if method not in METHODS:
            raise UsageError(
                f"Unknown method {first!r}: use one of {', '.join(METHODS)}.",
                USAGE,
            )
        if not rest:
            raise UsageError(f"No path given after {method}.", USAGE)
        target = rest
    else:
        method, target = "GET", text
    path = target.partition("?")[0]
    if re.search(r"\s", path):
        raise UsageError(
            f"The path {path!r} contains a space.",
            "Put query options after '?' on the line, or one per line in the cell body "
            "($filter=..., $top=...).",
        )
    return method, target


def _query_string_options(query: str, namespace: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``a=1&$filter=name eq 'A&B'`` -> options; ``&`` inside a quoted literal does not split."""
    params: list[tuple[str, str]] = []
    for part in split_outside_quotes(query, "&"):
        if not part.strip():
            continue
        name, _, value = part.partition("=")
        # A pasted URL arrives percent-encoded; decode before values are put in.
        name, value = unquote(name).strip(), unquote(value)
        params.append((name, _interpolate_option(name, value, namespace)))
    return params


def _strip_comments(body: str) -> str:
    return "\n".join(ln for ln in body.splitlines() if not ln.strip().startswith("#"))


def custom_options(path: str) -> frozenset[str]:
    """The query options other than OData's ``$`` ones that the API of ``path`` takes (lower
    case): the SCIM list's, and the query parameters the Quotation and Configurator APIs
    describe; the Data API takes none."""
    lowered = "/" + _HOST_PREFIX.sub("", path).lstrip("/").lower()
    if lowered.startswith(SCIM_ROOT):
        return SCIM_QUERY_OPTIONS
    for root, api in ((QUOTATION_ROOT, "quotation"), ("/configurator/", "configurator")):
        if lowered.startswith(root):
            return _described_query_options(api)
    return frozenset()


@cache
def _described_query_options(api: str) -> frozenset[str]:
    return frozenset(
        parameter["name"].lower()
        for item in apispec.load(api).get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict)
        for parameter in operation.get("parameters", [])
        if parameter.get("in") == "query"
    )


def _body_options(
    body: str, namespace: Mapping[str, Any], method: str, path: str
) -> list[tuple[str, str]]:
    """One ``name=value`` per line; indented lines continue the previous option's value. A
    line that names no option the API takes (``total = len(frame)``) is refused."""
    collected: list[list[str]] = []
    for number, raw in enumerate(body.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not collected and stripped[0] in "{[":
            raise UsageError(
                f"A {method} request takes query options in the cell body, not JSON.",
                "Use POST, PATCH or PUT to send a JSON body.",
            )
        is_option = _OPTION_START.match(stripped) is not None
        if not is_option and raw[0] in " \t" and collected:
            collected[-1][1] += " " + stripped
            continue
        name, sep, value = stripped.lstrip("?&").partition("=")
        if not is_option:
            raise UsageError(
                f"Line {number} of the cell body is not a query option: {_shorten(stripped)!r}",
                "Write one option per line as name=value, e.g. $filter=salesPrice gt 100; "
                "indent a line to continue the previous option.",
            )
        if not name.strip().startswith("$") and name.strip().lower() not in custom_options(path):
            known = sorted(custom_options(path))
            raise UsageError(
                f"Line {number} of the cell body is not a query option of this API: "
                f"{_shorten(stripped)!r}",
                (
                    f"It takes OData's $options and {', '.join(known)}. "
                    if known
                    else "It takes OData's $options ($filter, $select, $orderby, $top...). "
                )
                + "A %%elfsquad cell holds one request: put Python in a cell of its own "
                "(keep the result with -o NAME).",
            )
        collected.append([name.strip(), value.strip()])
    return [(name, _interpolate_option(name, value, namespace)) for name, value in collected]


def _check_options(params: list[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for name, _ in params:
        lowered = name.lower()
        if name.startswith("$"):
            if lowered not in SYSTEM_QUERY_OPTIONS:
                raise UsageError(
                    f"Unknown query option {name!r}.",
                    "OData options are " + ", ".join(sorted(SYSTEM_QUERY_OPTIONS)) + ".",
                )
            if lowered in seen:
                raise UsageError(
                    f"The query option {name} is given twice.",
                    "Combine the two into one (e.g. join filters with 'and').",
                )
            seen.add(lowered)


def _interpolate_option(name: str, value: str, namespace: Mapping[str, Any]) -> str:
    if name.lower() == "$filter":
        return _interpolate(value, namespace, _render_filter, quote_char="'", check_quotes=True)
    return _interpolate(value, namespace, _render_plain)


def _json_body(body: str, namespace: Mapping[str, Any]) -> Any:
    text = _strip_comments(body).strip()
    if not text:
        return None
    text = _interpolate(text, namespace, _render_json, quote_char='"')
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"The cell body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
            "JSON needs double quotes around names and strings and commas between items; "
            "or send a Python dict, list or DataFrame with --json VAR.",
        ) from None


# -- interpolation -----------------------------------------------------------------------------

Renderer = Callable[[Any, bool], str]


def _interpolate(
    template: str,
    namespace: Mapping[str, Any],
    render: Renderer,
    *,
    quote_char: str | None = None,
    check_quotes: bool = False,
) -> str:
    """Replace each ``{{expr}}``; ``render(value, in_string)`` knows if it sits in a literal."""
    if "{{" not in template and not check_quotes:
        return template
    out: list[str] = []
    i, n, in_string = 0, len(template), False
    while i < n:
        if template.startswith("{{", i):
            end = template.find("}}", i + 2)
            if end < 0:
                raise InterpolationError(
                    f"A placeholder is not closed: {_shorten(template[i:])!r}",
                    "Write placeholders as {{name}}.",
                )
            expr = template[i + 2 : end].strip()
            value = _lookup(expr, namespace)
            try:
                out.append(render(value, in_string))
            except InterpolationError as exc:
                raise InterpolationError(f"{{{{{expr}}}}}: {exc.message}", exc.hint) from None
            i = end + 2
            continue
        char = template[i]
        if quote_char is not None and char == quote_char:
            if quote_char == "'" and in_string and template.startswith("''", i):
                out.append("''")  # an escaped quote inside an OData string
                i += 2
                continue
            in_string = not in_string
        elif quote_char == '"' and in_string and char == "\\":
            out.append(template[i : i + 2])  # a JSON escape such as \" stays whole
            i += 2
            continue
        out.append(char)
        i += 1
    if check_quotes and in_string:
        raise UsageError(
            f"The $filter has an unbalanced quote: {_shorten(template)!r}",
            "Strings go in single quotes, a quote inside one is written twice ('O''Brien'); "
            "or put a Python value in with {{name}}, which quotes it for you.",
        )
    return "".join(out)


def _lookup(expr: str, namespace: Mapping[str, Any]) -> Any:
    match = _PLACEHOLDER_EXPR.match(expr)
    if not match:
        raise InterpolationError(
            f"{{{{{expr}}}}} is not a variable name.",
            "Placeholders hold a name, optionally with .attribute or [index]: {{since}}, "
            "{{row.id}}, {{ids[0]}}. Compute other expressions into a variable first.",
        )
    name = match.group("name")
    if name not in namespace:
        raise InterpolationError(
            f"{{{{{expr}}}}}: the name {name!r} is not defined.",
            f"Define {name} in a cell above, or check the spelling.",
        )
    value = namespace[name]
    for step in _ACCESSOR.finditer(match.group("rest")):
        try:
            if step.group("attr"):
                value = getattr(value, step.group("attr"))
            else:
                key_text = step.group("key")
                key: Any = key_text[1:-1] if key_text[0] in "'\"" else int(key_text)
                value = value[key]
        except Exception as exc:  # any failure of user objects is reported as one error
            raise InterpolationError(
                f"{{{{{expr}}}}} could not be read: {type(exc).__name__}: {exc}",
                "Check the attribute or index.",
            ) from None
    return value


def _render_filter(value: Any, in_string: bool) -> str:
    if in_string:
        # Inside a literal the user already wrote the quotes: only escape.
        return str(value).replace("'", "''")
    return to_odata_literal(value)


def _render_plain(value: Any, in_string: bool) -> str:
    return str(value)


def _render_path(value: Any, in_string: bool) -> str:
    return quote(str(value), safe=_PATH_SAFE)


def _render_json(value: Any, in_string: bool) -> str:
    if in_string:
        text = value if isinstance(value, str) else str(to_json_compatible(value))
        return json.dumps(text, ensure_ascii=False)[1:-1]
    return json.dumps(to_json_compatible(value), ensure_ascii=False)


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
