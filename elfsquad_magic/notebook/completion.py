"""Tab completion for ``%elfsquad`` / ``%%elfsquad``: API roots, paths, entity sets, options, names.

An IPython matcher (API v2), so it serves the terminal and JupyterLab/Notebook alike: their
completion requests reach the kernel's ``shell.Completer``. The matcher never raises into the
editor and never waits long: what it knows of the tenant comes from a
:class:`.completion_cache.CompletionCache`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from IPython.core.completer import CompletionContext, SimpleCompletion, context_matcher

from ..core.odata import (
    API_ROOTS,
    COMPLETED_QUERY_OPTIONS,
    DATA_ROOT,
    METHODS,
)
from ..core.schema import EntitySet, ServiceSchema
from .cell import split_magic_line
from .completion_cache import API_OF_ROOT, CompletionCache, quiet_fetch_logs

if TYPE_CHECKING:
    from ..client import ElfsquadClient

__all__ = [
    "MATCHER_ID",
    "QUERY_OPTIONS",
    "CompleterHandle",
    "Suggestion",
    "install_completer",
    "make_matcher",
    "resolve_entity_set",
    "suggest",
    "uninstall_completer",
]

QUERY_OPTIONS = tuple(f"{name}=" for name in COMPLETED_QUERY_OPTIONS)
"""The OData query options completed in a ``%%elfsquad`` body or after ``?``."""


_COMPARISON_OPERATORS = ("eq", "ne", "gt", "ge", "lt", "le", "in", "has")
_LOGICAL_OPERATORS = ("and", "or")
_FILTER_FUNCTIONS = (
    "contains(",
    "startswith(",
    "endswith(",
    "tolower(",
    "toupper(",
    "trim(",
    "length(",
    "year(",
    "month(",
    "day(",
    "date(",
    "not ",
)

_MAGIC_RE = re.compile(r"(?:^|(?<=[\s=(]))%elfsquad(?=\s|$)")
_CELL_MAGIC_RE = re.compile(r"^\s*%%elfsquad(?=\s|$)")
_DESCRIBE_RE = re.compile(r"^.*%elfsquad_describe\s+(\S*)$")
_HOST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*")
_IDENTIFIER_TAIL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_LITERAL_RE = re.compile(
    r"^(?:'.*'|-?\d[\d.eE+-]*[mMdDfF]?|true|false|null|[0-9a-fA-F-]{36}|\d{4}-\d\d-\d\dT\S*)$"
)


@dataclass(frozen=True)
class Suggestion:
    """Completions for the text before the cursor: they replace its last ``len(fragment)``."""

    fragment: str
    texts: tuple[str, ...]
    kind: str
    ordered: bool = False


_NONE = Suggestion("", (), "")


# -- what to fetch, and how long to wait for it ----------------------------------------------


def _prefixed(candidates: Iterable[str], fragment: str) -> tuple[str, ...]:
    """Candidates starting with ``fragment`` in any casing, each once, in the server's casing."""
    lowered = fragment.lower()
    seen: dict[str, None] = {}
    for candidate in candidates:
        if candidate.lower().startswith(lowered):
            seen.setdefault(candidate, None)
    return tuple(seen)


def _strip_host(path: str) -> str:
    return _HOST_RE.sub("", path, count=1)


def resolve_entity_set(schema: ServiceSchema, path: str) -> EntitySet | None:
    """The entity set a Data API path reads: ``/data/1/quotations(id)/quotationLines`` -> lines.

    Navigation segments are followed to their target set; a key given as a segment is skipped.
    """
    path = _strip_host(path.split("?", 1)[0]).strip()
    if not path.startswith("/"):
        path = "/" + path
    if not path.lower().startswith(DATA_ROOT):
        return None
    segments = [s for s in path[len(DATA_ROOT) :].split("/") if s]
    if not segments:
        return None
    current = schema.find(segments[0].split("(", 1)[0])
    for segment in segments[1:]:
        if current is None:
            return None
        name = segment.split("(", 1)[0]
        nav = current.navigation_named(name)
        if nav is not None:
            current = schema.find(nav.target_set) if nav.target_set else None
        elif "(" in segment or name.startswith("$") or name.startswith("Default."):
            return None if name.startswith("$") else current
        # else: a key given as a segment (quotations/<guid>): same set
    return current


SchemaGetter = Callable[[], "ServiceSchema | None"]
"""Returns the schema when it is at hand (called only when a position needs it)."""


def path_suggestions(
    path: str, schema_getter: SchemaGetter, api_paths: Callable[[str], Sequence[str]]
) -> Suggestion:
    """Completions for a path being typed: roots, entity sets, navigation, API path segments."""
    bare = _strip_host(path)
    normalized = bare if bare.startswith("/") else "/" + bare
    lowered = normalized.lower()
    root = next((r for r in API_ROOTS if lowered.startswith(r)), None)
    if root is None:
        if "/" in normalized[1:] and not any(r.startswith(lowered) for r in API_ROOTS):
            return _NONE
        roots = API_ROOTS if bare.startswith("/") or not bare else [r[1:] for r in API_ROOTS]
        return Suggestion(bare, _prefixed(roots, bare), "path")
    head, _, partial = normalized.rpartition("/")
    if root == DATA_ROOT:
        schema = schema_getter()
        if schema is None:
            return _NONE
        if len(head) + 1 == len(DATA_ROOT):
            names = sorted(schema.entity_sets, key=str.lower)
            if partial.startswith("$"):
                names = ["$metadata"]
            return Suggestion(partial, _prefixed(names, partial), "entityset")
        entity_set = resolve_entity_set(schema, head)
        if entity_set is None:
            return _NONE
        return Suggestion(partial, _prefixed(entity_set.navigation, partial), "navigation")
    api = API_OF_ROOT[root]
    return Suggestion(partial, _template_segments(api_paths(api), head, partial), "path")


def _template_segments(templates: Iterable[str], head: str, partial: str) -> tuple[str, ...]:
    """The next segment of each template whose first segments match ``head``."""
    typed = head.split("/")
    found: dict[str, None] = {}
    for template in templates:
        segments = template.split("/")
        if len(segments) <= len(typed):
            continue
        if not all(_segment_matches(t, s) for t, s in zip(typed, segments, strict=False)):
            continue
        following = segments[len(typed)]
        text = following + ("/" if len(segments) > len(typed) + 1 else "")
        if following.startswith("{"):
            # A placeholder only shows what goes there; offer it when nothing is typed yet.
            if partial in ("", "{") or following.lower().startswith(partial.lower()):
                found.setdefault(text, None)
        elif following.lower().startswith(partial.lower()):
            found.setdefault(text, None)
    return tuple(found)


def _segment_matches(typed: str, template: str) -> bool:
    return template.startswith("{") or typed.lower() == template.lower()


def option_suggestions(text: str, entity_set: EntitySet | None) -> Suggestion:
    """Completions in one query option being typed: ``$sel``, ``$select=name,sal``, ..."""
    body = text.lstrip()
    if body[:1] in ("#", "{", "[", '"'):
        return _NONE
    if "=" not in body:
        if body and not (body[0] == "$" or body[0].isalpha()):
            return _NONE
        # "fil" finds $filter= too: the dollar is easy to forget.
        matches = _prefixed(QUERY_OPTIONS, body if body.startswith("$") else "$" + body)
        return Suggestion(body, matches, "option")
    name, value = body.split("=", 1)
    name = name.strip().lower()
    if name == "$count":
        return Suggestion(value, _prefixed(("true", "false"), value), "value")
    if entity_set is None:
        return _NONE
    properties = sorted(entity_set.properties, key=str.lower)
    navigation = sorted(entity_set.navigation, key=str.lower)
    piece = value.rsplit(",", 1)[-1].lstrip()
    if name == "$select":
        return Suggestion(piece, _prefixed(properties, piece), "property")
    if name == "$expand":
        if "(" in piece:
            return _NONE  # nested options of an expansion are not completed
        return Suggestion(piece, _prefixed(navigation, piece), "navigation")
    if name == "$orderby":
        if " " in piece:
            direction = piece.rsplit(" ", 1)[-1]
            return Suggestion(direction, _prefixed(("asc", "desc"), direction), "keyword")
        return Suggestion(piece, _prefixed(properties, piece), "property")
    if name == "$filter":
        return _filter_suggestions(value, properties)
    return _NONE


def _filter_suggestions(value: str, properties: Sequence[str]) -> Suggestion:
    if value.count("'") % 2 == 1:
        return _NONE  # inside a string literal
    match = _IDENTIFIER_TAIL_RE.search(value)
    fragment = match.group() if match else ""
    before = value[: len(value) - len(fragment)]
    if before and not (before[-1].isspace() or before[-1] in "(,"):
        return _NONE  # e.g. right after a number or inside a name with a dot
    previous = before.split()[-1] if before.split() else ""
    if before[-1:] in ("(", ","):
        previous = before[-1]
    lowered_properties = {p.lower() for p in properties}
    if (
        previous == ""
        or previous.endswith(("(", ","))
        or previous.lower()
        in (
            *_COMPARISON_OPERATORS,
            *_LOGICAL_OPERATORS,
            "not",
        )
    ):
        names = _prefixed(properties, fragment)
        functions = _prefixed(_FILTER_FUNCTIONS, fragment) if fragment else ()
        return Suggestion(fragment, names + functions, "property", ordered=True)
    if previous.lower() in lowered_properties or previous.endswith(")") and "(" in previous:
        # After a name: an operator (also after a function call such as tolower(name)).
        return Suggestion(fragment, _prefixed(_COMPARISON_OPERATORS, fragment), "operator")
    if _LITERAL_RE.match(previous) or previous.endswith(")"):
        return Suggestion(fragment, _prefixed(_LOGICAL_OPERATORS, fragment), "operator")
    return _NONE


@dataclass(frozen=True)
class _Request:
    """Where the request starts in a magic line (after the options) and what it names."""

    method: str | None
    path: str | None  # the path text up to the cursor (or the full path for the first line)
    path_start: int | None  # offset of the path in the text
    at_option: bool  # the cursor is in an option or its value


def _split_magic_line(rest: str, value_options: Collection[str]) -> _Request:
    """Read ``[options] [METHOD] PATH...`` from ``rest``; the cursor is at its end."""
    split = split_magic_line(rest, value_options)
    if split.request_start >= len(rest):
        # Nothing but options: the cursor is in one (or its value) unless a blank follows.
        in_option = bool(split.options) and not rest[-1:].isspace()
        return _Request(None, None, None, at_option=in_option or split.awaits_value)
    method: str | None = None
    for match in re.finditer(r"\S+", rest[split.request_start :]):
        token = match.group()
        start = split.request_start + match.start()
        ends_at_cursor = start + len(token) == len(rest)
        if method is None and token.upper() in METHODS and not ends_at_cursor:
            method = token.upper()
            continue
        return _Request(method, rest[start:], start, at_option=False)
    return _Request(method, None, None, at_option=False)


def line_suggestions(
    before: str,
    schema_getter: SchemaGetter,
    api_paths: Callable[[str], Sequence[str]],
    value_options: Collection[str] = frozenset(),
    option_names: Sequence[str] = (),
) -> Suggestion:
    """Completions on a line with ``%elfsquad``/``%%elfsquad``, ``before`` ending at the cursor;
    ``option_names`` are the magic's options (``--limit``...), completed after ``-``."""
    magics = list(_MAGIC_RE.finditer(before))
    magic = magics[-1] if magics else None
    cell = _CELL_MAGIC_RE.match(before)
    start = cell.end() if cell else (magic.end() if magic else None)
    if start is None or start == len(before):
        return _NONE
    request = _split_magic_line(before[start:], value_options)
    if request.at_option:
        typed = before.rsplit(None, 1)[-1] if not before[-1:].isspace() else ""
        if not typed.startswith("-"):
            return _NONE  # the value of an option: nothing to offer
        return Suggestion(typed, _prefixed(option_names, typed), "option")
    if request.path is None:
        # Between tokens: the method (when none yet) or the path.
        methods = () if request.method else METHODS
        return Suggestion("", (*methods, *API_ROOTS), "path")
    path = request.path
    if "?" in path:
        head, _, query = path.partition("?")
        option = query.rsplit("&", 1)[-1]
        schema = schema_getter() if "=" in option else None
        entity_set = resolve_entity_set(schema, head) if schema is not None else None
        return option_suggestions(option, entity_set)
    if any(ch.isspace() for ch in path):
        return _NONE
    if request.method is None and not path.startswith("/") and "/" not in path:
        # A word where the method or a relative path goes: GE -> GET, da -> data/1/.
        methods = _prefixed(METHODS, path)
        roots = path_suggestions(path, schema_getter, api_paths).texts
        return Suggestion(path, (*methods, *roots), "path")
    return path_suggestions(path, schema_getter, api_paths)


def _first_line_path(first_line: str, value_options: Collection[str]) -> str | None:
    cell = _CELL_MAGIC_RE.match(first_line)
    if cell is None:
        return None
    rest = first_line[cell.end() :]
    # A trailing blank: the cursor is past every token.
    request = _split_magic_line(rest + " ", value_options)
    if request.path_start is None:
        return None
    return rest[request.path_start :].split()[0] if rest[request.path_start :].split() else None


def cell_body_suggestions(
    full_text: str,
    cursor_line: int,
    before: str,
    schema_getter: Callable[[], Any],
    value_options: Collection[str] = frozenset(),
) -> Suggestion:
    """Completions in the body of a ``%%elfsquad`` cell (the query options of a GET)."""
    lines = full_text.split("\n")
    path = _first_line_path(lines[0], value_options)
    if path is None:
        return _NONE
    body_lines = [line.strip() for line in lines[1:cursor_line]]
    if any(line[:1] in ("{", "[") for line in body_lines) or before.lstrip()[:1] in ("{", "["):
        return _NONE  # a JSON body, not query options
    needs_schema = "=" in before
    schema = schema_getter() if needs_schema else None
    entity_set = resolve_entity_set(schema, path) if schema is not None else None
    return option_suggestions(before, entity_set)


def suggest(
    full_text: str,
    cursor_line: int,
    cursor_position: int,
    cache: CompletionCache,
    value_options: Collection[str] = frozenset(),
    option_names: Sequence[str] = (),
) -> Suggestion:
    """Completions at a cursor in a cell: the whole logic, without IPython.

    ``value_options`` are the ``%elfsquad`` options that take a value (``-o NAME``): the token
    after them is not the method or the path.
    """
    lines = full_text.split("\n")
    if cursor_line >= len(lines):
        return _NONE
    before = lines[cursor_line][:cursor_position]
    if cursor_line > 0 and _CELL_MAGIC_RE.match(lines[0]):
        return cell_body_suggestions(full_text, cursor_line, before, cache.schema, value_options)
    if "%elfsquad" not in before:
        return _NONE
    describe = _DESCRIBE_RE.match(before)
    if describe is not None and describe.group(1).startswith("/"):
        # An API or one of its paths: the same path completion as a request line.
        return path_suggestions(describe.group(1), cache.schema, cache.api_paths)
    if describe is not None:
        schema = cache.schema()
        names = sorted(schema.entity_sets, key=str.lower) if schema is not None else ()
        fragment = describe.group(1)
        return Suggestion(fragment, _prefixed(names, fragment), "entityset")
    return line_suggestions(before, cache.schema, cache.api_paths, value_options, option_names)


# -- the IPython side -----------------------------------------------------------------------


MATCHER_ID = "elfsquad_magic.completion"
"""The matcher's identifier in IPython (``IPCompleter.disable_matchers`` can name it)."""


@dataclass
class CompleterHandle:
    """What `install_completer` registered, for `uninstall_completer`."""

    matcher: Callable[..., Any]
    cache: CompletionCache


def make_matcher(
    cache: CompletionCache,
    value_options: Collection[str] = frozenset(),
    option_names: Sequence[str] = (),
) -> Callable[[CompletionContext], dict[str, Any]]:
    """An IPython v2 matcher over ``cache``; it returns nothing rather than raise."""

    @context_matcher(identifier=MATCHER_ID)
    def elfsquad_matcher(context: CompletionContext) -> dict[str, Any]:
        try:
            suggestion = suggest(
                context.full_text,
                context.cursor_line,
                context.cursor_position,
                cache,
                value_options,
                option_names,
            )
        except Exception:  # noqa: BLE001 - the editor must never see an error from here
            suggestion = _NONE
        if not suggestion.texts:
            return {"completions": [], "suppress": False}
        return {
            "completions": [SimpleCompletion(t, type=suggestion.kind) for t in suggestion.texts],
            "matched_fragment": suggestion.fragment,
            # Python names and file paths make no sense inside an Elfsquad request.
            "suppress": True,
            "ordered": suggestion.ordered,
        }

    return elfsquad_matcher


def install_completer(
    shell: Any,
    get_client: Callable[[], ElfsquadClient | None],
    *,
    wait: float = 2.0,
    value_options: Collection[str] = frozenset(),
    option_names: Sequence[str] = (),
) -> CompleterHandle:
    """Register the ``%elfsquad`` matcher on ``shell``'s completer; the handle removes it.

    ``value_options``: the options of ``%elfsquad`` that take a value, from its parser;
    ``option_names``: all of its options, completed after ``-``.
    """
    quiet_fetch_logs()
    cache = CompletionCache(get_client, wait=wait)
    matcher = make_matcher(cache, value_options, option_names)
    matchers = shell.Completer.custom_matchers
    # One at a time: a %reload_ext (or a load without unload) replaces the earlier matcher.
    matchers[:] = [m for m in matchers if _matcher_id(m) != MATCHER_ID]
    matchers.append(matcher)
    return CompleterHandle(matcher=matcher, cache=cache)


def _matcher_id(matcher: Any) -> Any:
    return getattr(matcher, "matcher_identifier", None)


def uninstall_completer(shell: Any, handle: CompleterHandle | None) -> None:
    """Remove a matcher registered by `install_completer` (no error when it is already gone)."""
    if handle is None:
        return
    matchers = shell.Completer.custom_matchers
    if handle.matcher in matchers:
        matchers.remove(handle.matcher)
