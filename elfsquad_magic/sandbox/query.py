"""OData query options -> SQL over the store, with every literal bound as a parameter.

``$filter`` is parsed by odata-query's grammar and translated by a subclass of its SQLite visitor
that (a) binds every literal as a named parameter, so quotes in strings can never reach the SQL
text, (b) accepts only the entity's own property names, and (c) compares guids and date-times in
the normalised forms the store keeps. Comparisons are two-valued (``null`` never matches ``gt``,
``ne`` matches ``null``), as in the .NET service where filters run as C# expressions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from odata_query import ast
from odata_query.grammar import ODataLexer, ODataParser
from odata_query.sql.sqlite import AstToSqliteSqlVisitor

from .metadata import EntitySetSpec, ServiceSpec
from .store import column
from .values import normalize_datetime, normalize_guid, utc_now_text


class ODataError(Exception):
    """A request the service refuses: HTTP status, OData error code and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(message: str) -> ODataError:
    """A 400 answer with ``message``."""
    return ODataError(400, "BadRequest", message)


_NUMERIC = {"Edm.Decimal", "Edm.Double", "Edm.Int32", "Edm.Int64"}
_UNSUPPORTED_FUNCS = {"round", "floor", "ceiling", "hassubset", "hassubsequence", "second"}


class SafeSqliteVisitor(AstToSqliteSqlVisitor):
    """odata-query's SQLite visitor with bound literals and validated identifiers."""

    def __init__(self, spec: EntitySetSpec) -> None:
        super().__init__()
        self.spec = spec
        self.params: dict[str, object] = {}

    def bind(self, value: object) -> str:
        """Register ``value`` as a named parameter and return its placeholder."""
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    # Identifiers ---------------------------------------------------------------------------
    def property_type(self, node: ast._Node) -> str | None:
        """The Edm type of ``node`` when it is a plain property reference."""
        if isinstance(node, ast.Identifier):
            return self.spec.properties.get(node.name)
        return None

    def visit_Identifier(self, node: ast.Identifier) -> str:
        if node.namespace:
            raise bad_request(f"Qualified names such as '{node.full_name()}' are not supported.")
        edm = self.spec.properties.get(node.name)
        if edm is None:
            if node.name in self.spec.navigation:
                raise bad_request(
                    f"'{node.name}' is a navigation property; filter on a property of "
                    f"{self.spec.entity_type} instead (e.g. '{node.name}Id')."
                )
            raise bad_request(
                f"Could not find a property named '{node.name}' on type "
                f"'Default.{self.spec.entity_type}'."
            )
        if edm.startswith("Collection(") or edm == "Edm.Untyped":
            raise bad_request(
                f"Filtering on the collection property '{node.name}' is not supported."
            )
        return column(node.name)

    def visit_Attribute(self, node: ast.Attribute) -> str:
        raise bad_request("Paths through navigation properties are not supported in $filter.")

    def visit_CollectionLambda(self, node: ast._Node) -> str:
        raise bad_request("Lambda operators (any/all) are not supported.")

    # Literals ------------------------------------------------------------------------------
    def visit_String(self, node: ast.String) -> str:
        return self.bind(node.val)

    def visit_Integer(self, node: ast.Integer) -> str:
        return self.bind(int(node.val))

    def visit_Float(self, node: ast.Float) -> str:
        return self.bind(float(node.val))

    def visit_GUID(self, node: ast.GUID) -> str:
        return self.bind(normalize_guid(node.val))

    def visit_DateTime(self, node: ast.DateTime) -> str:
        try:
            return self.bind(normalize_datetime(node.val))
        except ValueError as exc:
            raise bad_request(str(exc)) from None

    def visit_Date(self, node: ast.Date) -> str:
        return self.bind(node.val)

    def visit_Duration(self, node: ast.Duration) -> str:
        raise bad_request("Duration literals are not supported.")

    def visit_Time(self, node: ast._Node) -> str:
        raise bad_request("Time-of-day literals are not supported.")

    def visit_Geography(self, node: ast._Node) -> str:
        raise bad_request("Geography literals are not supported.")

    def visit_List(self, node: ast.List) -> str:
        return "(" + ", ".join(self.visit(n) for n in node.val) + ")"

    def _literal_for(self, edm: str, node: ast._Node) -> str:
        """A literal compared with a property of type ``edm``, in the store's form."""
        if edm == "Edm.DateTimeOffset" and isinstance(node, (ast.Date, ast.DateTime, ast.String)):
            try:
                return self.bind(normalize_datetime(node.val))
            except ValueError:
                raise bad_request(f"'{node.val}' is not a valid date-time.") from None
        if edm == "Edm.Guid" and isinstance(node, ast.String):
            try:
                return self.bind(normalize_guid(node.val))
            except ValueError:
                raise bad_request(f"'{node.val}' is not a valid guid.") from None
        if edm in _NUMERIC and isinstance(node, (ast.String, ast.GUID, ast.DateTime, ast.Date)):
            raise bad_request(f"A {edm} property cannot be compared with '{node.val}'.")
        if edm == "Edm.String" and isinstance(node, (ast.Integer, ast.Float)):
            raise bad_request(
                f"A string property cannot be compared with the number {node.val}; "
                f"quote it: '{node.val}'."
            )
        if isinstance(node, ast.List):
            return "(" + ", ".join(self._literal_for(edm, n) for n in node.val) + ")"
        return self.visit(node)

    # Operators -----------------------------------------------------------------------------
    def visit_Compare(self, node: ast.Compare) -> str:
        left_type = self.property_type(node.left)
        right_type = self.property_type(node.right)
        left = (
            self._literal_for(right_type, node.left)
            if right_type and isinstance(node.left, ast._Literal)
            else self.visit(node.left)
        )
        right = (
            self._literal_for(left_type, node.right)
            if left_type and isinstance(node.right, ast._Literal)
            else self.visit(node.right)
        )
        if isinstance(node.left, (ast.BoolOp, ast.Compare)):
            left = f"({left})"
        if isinstance(node.right, (ast.BoolOp, ast.Compare)):
            right = f"({right})"
        if isinstance(node.comparator, ast.Eq):
            return f"({left} IS {right})"
        if isinstance(node.comparator, ast.NotEq):
            return f"({left} IS NOT {right})"
        comparator = self.visit(node.comparator)
        return f"IFNULL({left} {comparator} {right}, 0)"

    def visit_BoolOp(self, node: ast.BoolOp) -> str:
        return f"({self.visit(node.left)} {self.visit(node.op)} {self.visit(node.right)})"

    def visit_UnaryOp(self, node: ast.UnaryOp) -> str:
        if isinstance(node.op, ast.Not):
            return f"(NOT IFNULL({self.visit(node.operand)}, 0))"
        return f"(-{self.visit(node.operand)})"

    def visit_BinOp(self, node: ast.BinOp) -> str:
        return f"({super().visit_BinOp(node)})"

    def visit_Call(self, node: ast.Call) -> str:
        name = node.func.name.lower()
        if name in _UNSUPPORTED_FUNCS:
            raise bad_request(f"The function '{node.func.name}' is not supported.")
        return super().visit_Call(node)

    # String functions: instr/substr are case-sensitive and need no pattern escaping.
    def _text_args(self, name: str, args: tuple) -> tuple[str, str]:
        if len(args) != 2:
            raise bad_request(f"{name}() takes two arguments.")
        return self.visit(args[0]), self.visit(args[1])

    def sqlfunc_contains(self, *args: ast._Node) -> str:
        haystack, needle = self._text_args("contains", args)
        return f"IFNULL(instr({haystack}, {needle}) > 0, 0)"

    def sqlfunc_startswith(self, *args: ast._Node) -> str:
        haystack, needle = self._text_args("startswith", args)
        return f"IFNULL(substr({haystack}, 1, length({needle})) = {needle}, 0)"

    def sqlfunc_endswith(self, *args: ast._Node) -> str:
        haystack, needle = self._text_args("endswith", args)
        return (
            f"IFNULL(length({needle}) = 0 AND {haystack} IS NOT NULL "
            f"OR substr({haystack}, -length({needle})) = {needle}, 0)"
        )

    def sqlfunc_now(self) -> str:
        return self.bind(utc_now_text())

    def sqlfunc_second(self, arg: ast._Node) -> str:
        return f"CAST(STRFTIME('%S', {self.visit(arg)}) AS INTEGER)"


_EARLY_DATETIME = re.compile(
    r"(?<![\w.-])(0\d{3}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,12})?)?"
    r"(?:Z|[+-]\d{2}:\d{2})?)?)(?![\w.:-])"
)
_QUOTED = re.compile(r"'(?:[^']|'')*'")


def _quote_early_dates(text: str) -> str:
    """Quote date-times before year 1000 (``0001-01-01T00:00:00Z``, the "empty" date).

    odata-query's lexer only knows years 1000-9999; a quoted literal compared with a date-time
    property is read as a date-time by the visitor. Quoted strings are left untouched.
    """
    out, pos = [], 0
    for m in _QUOTED.finditer(text):
        out.append(_EARLY_DATETIME.sub(r"'\1'", text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_EARLY_DATETIME.sub(r"'\1'", text[pos:]))
    return "".join(out)


def translate_filter(spec: EntitySetSpec, text: str) -> tuple[str, dict[str, object]]:
    """``$filter`` text -> (SQL boolean expression, named parameters); 400 when malformed."""
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(_quote_early_dates(text)))
    except ODataError:
        raise
    except Exception as exc:  # the grammar raises several exception types for bad input
        raise bad_request(f"The $filter is not valid OData: {exc}") from None
    if tree is None:
        raise bad_request("The $filter is empty or not valid OData.")
    visitor = SafeSqliteVisitor(spec)
    try:
        sql = visitor.visit(tree)
    except ODataError:
        raise
    except Exception as exc:
        raise bad_request(f"The $filter cannot be evaluated: {exc}") from None
    return sql, visitor.params


_ORDER_ITEM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s+(asc|desc))?\s*$", re.IGNORECASE)


def translate_orderby(spec: EntitySetSpec, text: str | None) -> str:
    """``$orderby`` -> SQL ORDER BY, always ending with the key so paging is stable."""
    parts: list[str] = []
    keys_used: set[str] = set()
    for item in (text or "").split(",") if text and text.strip() else []:
        m = _ORDER_ITEM.match(item)
        if not m:
            raise bad_request(f"The $orderby item '{item.strip()}' is not valid.")
        name, direction = m.group(1), (m.group(2) or "asc").upper()
        edm = spec.properties.get(name)
        if edm is None:
            raise bad_request(
                f"Could not find a property named '{name}' on type 'Default.{spec.entity_type}'."
            )
        if edm.startswith("Collection(") or edm == "Edm.Untyped":
            raise bad_request(f"The collection property '{name}' cannot be used in $orderby.")
        parts.append(f"{column(name)} {direction}")
        keys_used.add(name)
    if spec.key not in keys_used:
        parts.append(f"{column(spec.key)} ASC")
    return ", ".join(parts)


def split_top_level(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses and quotes."""
    out, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == sep:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return out


def parse_select(spec: EntitySetSpec, text: str | None) -> list[str] | None:
    """``$select`` -> property names in request order (``None`` = all); 400 for unknown names."""
    if text is None or text.strip() in ("", "*"):
        return None
    names = []
    for raw in text.split(","):
        name = raw.strip()
        if name == "*":
            return None
        if name not in spec.properties and name not in spec.navigation:
            raise bad_request(
                f"Could not find a property named '{name}' on type 'Default.{spec.entity_type}'."
            )
        if name not in names:
            names.append(name)
    return names


@dataclass
class Expansion:
    """One ``$expand`` item: the navigation property and its nested ``$select``."""

    name: str
    target: EntitySetSpec
    foreign_key: str
    select: list[str] | None = field(default=None)


_EXPAND_ITEM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)


def parse_expand(service: ServiceSpec, spec: EntitySetSpec, text: str | None) -> list[Expansion]:
    """``$expand`` (to-one navigations, nested ``$select`` only) -> expansions; 400 otherwise."""
    if text is None or not text.strip():
        return []
    items = split_top_level(text, ",")
    if any(item.strip() == "*" for item in items):
        items = [n.name for n in spec.navigation.values() if n.target and not n.collection]
    result = []
    for item in items:
        m = _EXPAND_ITEM.match(item)
        if not m:
            raise bad_request(f"The $expand item '{item.strip()}' is not valid.")
        name, nested = m.group(1), m.group(2)
        nav = spec.navigation.get(name)
        if nav is None:
            raise bad_request(
                f"Could not find a navigation property named '{name}' on type "
                f"'Default.{spec.entity_type}'."
            )
        if nav.collection or not nav.target or not nav.foreign_key:
            raise bad_request(f"Expanding '{name}' is not supported by the sandbox.")
        target = service.sets[nav.target]
        select = None
        if nested and nested.strip():
            for option in split_top_level(nested, ";"):
                key, _, value = option.partition("=")
                if key.strip().lower() != "$select":
                    raise bad_request(f"Only $select is supported inside $expand ({key.strip()}).")
                select = parse_select(target, value)
        result.append(Expansion(name, target, nav.foreign_key, select))
    return result


def parse_nonnegative(name: str, text: str | None) -> int | None:
    """``$top``/``$skip`` as an int (``None`` when absent); 400 unless a non-negative integer."""
    if text is None:
        return None
    value = text.strip()
    if not value.isdigit() or not value.isascii():
        raise bad_request(
            f"The value '{text}' is not valid for {name}; use a non-negative integer."
        )
    return int(value)


def parse_count(text: str | None) -> bool:
    """``$count`` -> bool; 400 unless true/false."""
    if text is None:
        return False
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise bad_request(f"The value '{text}' is not valid for $count; use true or false.")
    return value == "true"
