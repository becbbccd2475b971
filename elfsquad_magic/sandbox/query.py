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
from odata_query import exceptions as odata_exceptions
from odata_query.grammar import ODataLexer, ODataParser
from odata_query.sql.sqlite import AstToSqliteSqlVisitor

from .metadata import EntitySetSpec, ServiceSpec
from .store import column
from .values import normalize_datetime, normalize_guid, utc_now_text

__all__ = [
    "ODataError",
    "bad_request",
    "SafeSqliteVisitor",
    "translate_filter",
    "syntax_error",
    "translate_orderby",
    "split_top_level",
    "parse_select",
    "Expansion",
    "parse_expand",
    "parse_nonnegative",
    "parse_count",
    "translate_search",
]


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
            name = self.spec.property_name(node.name)
            return self.spec.properties[name] if name else None
        return None

    def visit_Identifier(self, node: ast.Identifier) -> str:
        if node.namespace:
            raise bad_request(f"Qualified names such as '{node.full_name()}' are not supported.")
        name = self.spec.property_name(node.name)
        edm = self.spec.properties[name] if name else None
        if name is None or edm is None:
            if self.spec.navigation_named(node.name) is not None:
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
        return column(name)

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
        # A condition used as a value ("(price gt 5) eq false") is false, not null, when a
        # property in it is null.
        if isinstance(node.left, (ast.BoolOp, ast.Compare)):
            left = f"IFNULL({left}, 0)"
        if isinstance(node.right, (ast.BoolOp, ast.Compare)):
            right = f"IFNULL({right}, 0)"
        if isinstance(node.comparator, ast.Eq):
            return f"({left} IS {right})"
        if isinstance(node.comparator, ast.NotEq):
            return f"({left} IS NOT {right})"
        comparator = self.visit(node.comparator)
        # Bare, so an index on the column serves it. A null property makes it null, which a
        # WHERE treats as false, as OData does; NOT (below) turns null into false first.
        return f"({left} {comparator} {right})"

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


_FUNCTION_CALL = re.compile(r"\b([A-Za-z]+)(?=\s*\()")


def _lower_function_names(text: str) -> str:
    """``Contains(Name,'x')`` -> ``contains(Name,'x')``: function names in any casing, as the
    .NET service takes them (operators are case-insensitive in odata-query's lexer already)."""
    out, pos = [], 0
    for m in _QUOTED.finditer(text):
        out.append(_FUNCTION_CALL.sub(lambda f: f.group(1).lower(), text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_FUNCTION_CALL.sub(lambda f: f.group(1).lower(), text[pos:]))
    return "".join(out)


def translate_filter(spec: EntitySetSpec, text: str) -> tuple[str, dict[str, object]]:
    """``$filter`` text -> (SQL boolean expression, named parameters); 400 when malformed."""
    try:
        prepared = _lower_function_names(_quote_early_dates(text))
        tree = ODataParser().parse(ODataLexer().tokenize(prepared))
    except ODataError:
        raise
    except (odata_exceptions.ParsingException, odata_exceptions.TokenizingException) as exc:
        raise bad_request(syntax_error(text, prepared, exc)) from None
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


_KEYWORDS = {
    "eq",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "and",
    "or",
    "not",
    "has",
    "in",
    "add",
    "sub",
    "mul",
    "div",
    "divby",
    "mod",
}
_WORD = re.compile(r"[^\s()]+")


def syntax_error(text: str, prepared: str, exc: Exception) -> str:
    """A parse error in ASP.NET Core OData's words, naming the (1-based) position and the
    token: "Syntax error at position 12 in 'salesPrice gtt 100': 'gtt' is not a valid
    operator." The parser reports the whitespace before an unknown word; the word is named."""
    token = getattr(exc, "token", None)
    if token is None:  # the text ended too early: "(name eq 'x'"
        if text.count("(") > text.count(")"):
            return f"')' or operator expected at position {len(text) + 1} in '{text}'."
        return f"Expression expected at position {len(text) + 1} in '{text}'."
    index = token.index
    if text != prepared:  # quoting or lower-casing moved the characters: find the same word
        index = min(index, len(text))
    if isinstance(exc, odata_exceptions.TokenizingException):
        value = str(token.value)
        if value.startswith("'"):
            return f"There is an unterminated string literal at position {index + 1} in '{text}'."
        return (
            f"Syntax error: character '{value[:1]}' is not valid at position {index + 1} "
            f"in '{text}'."
        )
    if token.type in ("(", ")", ","):
        return (
            f"Syntax error at position {index + 1} in '{text}': '{token.value}' is not valid here."
        )
    word = _WORD.search(text, index)
    if word is None:
        return f"Expression expected at position {len(text) + 1} in '{text}'."
    name, position = word.group(0), word.start() + 1
    if name.lower() in _KEYWORDS:
        after = word.end() + 1
        rest = text[word.end() :].strip()
        if not rest:
            return f"Expression expected at position {after} in '{text}'."
        return f"Syntax error at position {position} in '{text}': '{name}' is not valid here."
    return f"Syntax error at position {position} in '{text}': '{name}' is not a valid operator."


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
        name = spec.property_name(name) or name
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
        nav = spec.navigation_named(name)
        real = spec.property_name(name) or (nav.name if nav else None)
        if real is None:
            raise bad_request(
                f"Could not find a property named '{name}' on type 'Default.{spec.entity_type}'."
            )
        name = real  # answers use the model's names, whatever the request's casing
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
        nav = spec.navigation_named(name)
        if nav is None:
            raise bad_request(
                f"Could not find a navigation property named '{name}' on type "
                f"'Default.{spec.entity_type}'."
            )
        name = nav.name
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


_SEARCH_TOKEN = re.compile(r'"([^"]*)"|(\()|(\))|([^\s()"]+)')


def translate_search(spec: EntitySetSpec, text: str) -> tuple[str, dict[str, object]]:
    """``$search`` -> (SQL, parameters): each term, case-insensitive, in any text property;
    terms side by side or joined by ``AND`` must all match, ``OR`` either, ``NOT`` negates,
    ``"a phrase"`` is one term, parentheses group."""
    tokens: list[object] = []
    for phrase, opening, closing, word in _SEARCH_TOKEN.findall(text):
        if opening or closing:
            tokens.append(opening or closing)
        elif word.upper() in ("AND", "OR", "NOT"):
            tokens.append(word.upper())
        else:
            tokens.append(("term", phrase or word))
    if not tokens:
        raise bad_request("The $search expression is empty.")
    parser = _SearchParser(tokens, [column(name) for name in spec.text_properties()])
    sql = parser.disjunction()
    if parser.position != len(tokens):
        raise bad_request("The $search expression is not valid: unbalanced parentheses.")
    return sql, parser.params


class _SearchParser:
    """A recursive-descent reading of ``$search`` tokens into SQL over the text columns."""

    def __init__(self, tokens: list[object], columns: list[str]) -> None:
        self.tokens = tokens
        self.columns = columns
        self.params: dict[str, object] = {}
        self.position = 0

    def term_sql(self, term: str) -> str:
        name = f"s{len(self.params)}"
        self.params[name] = term.lower()
        if not self.columns:
            return "0"
        found = (f"IFNULL(instr(lower({c}), :{name}) > 0, 0)" for c in self.columns)
        return "(" + " OR ".join(found) + ")"

    def peek(self) -> object:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> object:
        self.position += 1
        return self.tokens[self.position - 1]

    def primary(self) -> str:
        token = self.take() if self.peek() is not None else None
        if token == "NOT":
            return f"(NOT {self.primary()})"
        if token == "(":
            inner = self.disjunction()
            closing = self.take() if self.peek() is not None else None
            if closing != ")":
                raise bad_request("The $search expression has an unclosed parenthesis.")
            return inner
        if isinstance(token, tuple):
            return self.term_sql(token[1])
        raise bad_request(f"The $search expression is not valid near {token!r}.")

    def conjunction(self) -> str:
        parts = [self.primary()]
        while self.peek() not in (None, "OR", ")"):
            if self.peek() == "AND":
                self.take()
            parts.append(self.primary())
        return "(" + " AND ".join(parts) + ")"

    def disjunction(self) -> str:
        parts = [self.conjunction()]
        while self.peek() == "OR":
            self.take()
            parts.append(self.conjunction())
        return "(" + " OR ".join(parts) + ")"
