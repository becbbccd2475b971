"""Hostile and mistaken input through the magics: exact error class, an actionable message, and
the session unchanged afterwards (login kept, earlier variables untouched).

Every row is a cell as a user would type it, run by the IPython shell. Rows against the sandbox
come first; answers the sandbox never gives (HTML, empty bodies, foreign or repeating next-page
links, huge values) come from the scripted loopback server. A property-based test at the end
sends any string through a JSON body and back through a ``$filter`` literal.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pandas as pd
import pytest
from clients import export_login
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError as IPythonUsageError
from IPython.utils.capture import capture_output
from scripted import SECRET, Reply, ScriptedServer, json_reply, odata_error, page, serving

from elfsquad_magic.errors import (
    BadRequestError,
    ElfsquadError,
    ElfsquadHTTPError,
    IncompleteResultError,
    InsecureURLError,
    InterpolationError,
    LoginError,
    NotFoundError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    UsageError,
)
from elfsquad_magic.sandbox import Sandbox

KEPT = "value from before"


@dataclass
class Case:
    """One cell as typed, and what must come of it."""

    id: str
    code: str
    error: type[BaseException] | None  # the exact class; None: the cell succeeds
    fragment: str = ""  # in the error text (message + hint), or in the printed output
    namespace: dict[str, Any] = field(default_factory=dict)
    check: Callable[[Any, str], None] | None = None  # (the result of `kept`, stdout) on success


def _rows(n: int) -> Callable[[Any, str], None]:
    def check(frame: Any, out: str) -> None:
        assert isinstance(frame, pd.DataFrame) and len(frame) == n, frame

    return check


_HUGE = "x" * 100_000
_HOSTILE = "x' or 1 eq 1 or name eq 'y"

SANDBOX_CASES = [
    # -- the magic line ---------------------------------------------------------------------
    # A cell magic with no body runs as the line magic (which then needs a path).
    Case("empty cell", "%%elfsquad -o kept\n", UsageError, "no PATH"),
    Case("cell with no path", "%%elfsquad -o kept\n# only a comment\n", UsageError, "no PATH"),
    Case("empty line magic", "kept = %elfsquad", UsageError, "no PATH"),
    Case("only options", "kept = %elfsquad --limit 5", UsageError, "no PATH"),
    Case(
        "unknown method", "%%elfsquad -o kept FETCH /data/1/features\n$top=1", UsageError, "'FETCH'"
    ),
    Case("missing path", "%%elfsquad -o kept GET\n$top=1", UsageError, "No path given after GET"),
    Case(
        "space in the path",
        "kept = %elfsquad GET /data/1/features $top=1",
        UsageError,
        "contains a space",
    ),
    Case(
        "path on another host",
        "kept = %elfsquad GET https://evil.example.com/data/1/features",
        InsecureURLError,
        "only sent to the API host",
    ),
    Case(
        "plain http to another host",
        "kept = %elfsquad GET http://api.elfsquad.io/data/1/features",
        InsecureURLError,
        "not on the API host",
    ),
    Case(
        "unknown option",
        "%%elfsquad -o kept --nope GET /data/1/features\n$top=1",
        UsageError,
        "--nope",
    ),
    Case(
        "option without its value", "kept = %elfsquad --limit", UsageError, "expected one argument"
    ),
    Case(
        "option after the path",
        "kept = %elfsquad /data/1/features --limit 5",
        UsageError,
        "contains a space",
    ),
    Case(
        "limit that is not a number",
        "kept = %elfsquad --limit many /data/1/features",
        UsageError,
        "invalid positive integer value: 'many'",
    ),
    Case(
        "limit of zero",
        "kept = %elfsquad --limit 0 /data/1/features",
        UsageError,
        "invalid positive integer",
    ),
    Case(
        "output name that is not a name",
        "%%elfsquad -o 2x GET /data/1/features\n$top=1",
        UsageError,
        "needs a Python variable name",
    ),
    # -- query options ----------------------------------------------------------------------
    Case(
        "unbalanced quote in $filter",
        "%%elfsquad -o kept GET /data/1/features\n$filter=name eq 'Bell",
        UsageError,
        "unbalanced quote",
    ),
    Case(
        "unbalanced quote on the line",
        "kept = %elfsquad GET /data/1/features?$filter=name eq 'Bell",
        UsageError,
        "unbalanced quote",
    ),
    Case(
        "misspelt system option",
        "%%elfsquad -o kept GET /data/1/features\n$fitler=salesPrice gt 1",
        UsageError,
        "Unknown query option '$fitler'",
    ),
    Case(
        "option given twice",
        "%%elfsquad -o kept GET /data/1/features\n$top=1\n$top=2",
        UsageError,
        "given twice",
    ),
    Case(
        "body line that is no option",
        "%%elfsquad -o kept GET /data/1/features\nsalesPrice gt 100",
        UsageError,
        "Line 1 of the cell body",
    ),
    Case(
        "JSON body on GET",
        '%%elfsquad -o kept GET /data/1/features\n{"name": "x"}',
        UsageError,
        "not JSON",
    ),
    Case(
        "unknown property in $filter",
        "%%elfsquad -o kept GET /data/1/features\n$filter=nosuch eq 1",
        BadRequestError,
        "nosuch",
    ),
    Case(
        "unknown property in $select",
        "%%elfsquad -o kept GET /data/1/features\n$select=id,nosuch",
        BadRequestError,
        "Could not find a property named 'nosuch'",
    ),
    Case(
        "$top that is no number",
        "kept = %elfsquad GET /data/1/features?$top=abc",
        BadRequestError,
        "not valid for $top",
    ),
    Case(
        "unknown entity set", "kept = %elfsquad GET /data/1/nosuchset", NotFoundError, "nosuchset"
    ),
    Case(
        "unknown key",
        "kept = %elfsquad GET /data/1/features(00000000-0000-0000-0000-000000000000)",
        NotFoundError,
        "no Features record with the key",
    ),
    Case(
        "method the path does not take",
        "kept = %elfsquad PUT /data/1/features",
        ElfsquadHTTPError,
        "does not accept that method",
    ),
    # -- placeholders and bodies ------------------------------------------------------------
    Case(
        "undefined placeholder",
        "%%elfsquad -o kept GET /data/1/features\n$filter=name eq {{undefined_name}}",
        InterpolationError,
        "'undefined_name' is not defined",
    ),
    Case(
        "expression in a placeholder",
        "%%elfsquad -o kept GET /data/1/features\n$top={{1 + 1}}",
        InterpolationError,
        "is not a variable name",
    ),
    Case(
        "unclosed placeholder",
        "%%elfsquad -o kept GET /data/1/features\n$filter=name eq {{name",
        InterpolationError,
        "not closed",
    ),
    Case(
        "value with no OData literal",
        "%%elfsquad -o kept GET /data/1/features\n$filter=name eq {{thing}}",
        InterpolationError,
        "object",
        {"thing": object()},
    ),
    Case(
        "missing attribute in a placeholder",
        "%%elfsquad -o kept GET /data/1/features\n$filter=id eq {{row.nosuch}}",
        InterpolationError,
        "could not be read",
        {"row": {"id": 1}},
    ),
    Case(
        "invalid JSON body",
        '%%elfsquad -o kept POST /data/1/categories\n{"name": "unterminated}',
        UsageError,
        "not valid JSON",
    ),
    Case(
        "value that is no JSON",
        '%%elfsquad -o kept POST /data/1/categories\n{"name": {{thing}}}',
        InterpolationError,
        "cannot be sent as JSON",
        {"thing": object()},
    ),
    Case(
        "--json naming a missing variable",
        "kept = %elfsquad --json nothing_here POST /data/1/categories",
        InterpolationError,
        "no variable named 'nothing_here'",
    ),
    Case(
        "--json on GET",
        "kept = %elfsquad --json body GET /data/1/features",
        UsageError,
        "--json cannot be used",
        {"body": {"name": "x"}},
    ),
    Case(
        "--json variable that is None",
        "kept = %elfsquad --json body POST /data/1/categories",
        UsageError,
        "is None",
        {"body": None},
    ),
    Case(
        "--json and a cell body",
        '%%elfsquad -o kept --json body POST /data/1/categories\n{"name": "x"}',
        UsageError,
        "Both a cell body and --json",
        {"body": {"name": "x"}},
    ),
    # -- hostile values stay inside their literal -------------------------------------------
    Case(
        "quote and ' or 1 eq 1 in a value",
        "%%elfsquad -o kept GET /data/1/categories\n$filter=name eq {{hostile}}",
        None,
        namespace={"hostile": _HOSTILE},
        check=_rows(0),
    ),
    Case(
        "quote and ' or 1 eq 1 inside a written literal",
        "%%elfsquad -o kept GET /data/1/categories\n$filter=name eq '{{hostile}}'",
        None,
        namespace={"hostile": _HOSTILE},
        check=_rows(0),
    ),
    Case(
        "quote and ' or 1 eq 1 on the line",
        "kept = %elfsquad GET /data/1/categories?$filter=name eq {{hostile}}",
        None,
        namespace={"hostile": "x' or 1 eq 1 or '1' eq '1"},
        check=_rows(0),
    ),
    Case(
        "apostrophe and ampersand in a real value",
        "kept = %elfsquad GET /data/1/crmaccounts?$filter=companyName eq {{name}}&$select=id",
        None,
        namespace={"name": "O'Connor Rad S.A."},
        check=lambda frame, out: (len(frame) >= 1) or pytest.fail("no row matched"),
    ),
    Case(
        "unicode everywhere",
        "%%elfsquad -o kept GET /data/1/crmcontacts\n# Straße, café, 東京 ✓\n"
        "$filter=city eq {{city}}\n$select=id,city",
        None,
        namespace={"city": "München"},
        check=lambda frame, out: (
            len(frame) > 0 and set(frame["city"]) == {"München"} or pytest.fail(repr(frame))
        ),
    ),
    Case(
        "unicode entity set",
        "kept = %elfsquad GET /data/1/fëatures",
        NotFoundError,
        "fëatures",
    ),
    Case(
        "huge value in a filter",
        "%%elfsquad -o kept GET /data/1/features\n$filter=name eq {{huge}}",
        ElfsquadHTTPError,
        "URL is too long",
        {"huge": _HUGE},
    ),
    # -- the other magics -------------------------------------------------------------------
    Case("login with an unknown option", "%elfsquad_login --nope", UsageError, "--nope"),
    Case(
        "login with a secret on the line",
        "%elfsquad_login --client-secret typed-by-mistake-1234",
        UsageError,
        "no option for the client secret",
    ),
    Case("login with --demo and --form", "%elfsquad_login --demo --form", UsageError, "combined"),
    Case(
        "login to a plain-http API",
        "%elfsquad_login --api-url http://api.example.com",
        InsecureURLError,
        "plain http",
    ),
    Case(
        "login host that refuses connections",
        "%elfsquad_login --login-url https://127.0.0.1:9",
        LoginError,
        "Could not reach the login host",
    ),
    Case("entities with an unknown option", "%elfsquad_entities --nope", UsageError, "--nope"),
    Case("describe without a set", "%elfsquad_describe", UsageError, "%elfsquad_describe"),
    Case("describe an unknown set", "%elfsquad_describe nosuchset", NotFoundError, "nosuchset"),
    Case("view with a typo", "kept = %elfsquad_view modle x", UsageError, "Did you mean model"),
    Case(
        "view of an unknown model",
        'kept = %elfsquad_view model "No such model"',
        UsageError,
        "There is no feature model",
    ),
    Case(
        "view option of another view",
        "kept = %elfsquad_view quotations --language nl",
        UsageError,
        "--language goes with features and custom_fields",
    ),
    Case("view with an open quote", 'kept = %elfsquad_view model "Carbon', UsageError, "quot"),
    Case(
        "view filter that is not SQL",
        "kept = %elfsquad_view quotation_lines --where 'discountPct >>> 5'",
        UsageError,
        "DuckDB",
    ),
]


def _run_case(ip, case: Case) -> tuple[Any, str, str]:
    """Run the case's cell; returns (its error or None, stdout, stderr)."""
    ip.user_ns.update(case.namespace)
    with capture_output() as cap:
        result = ip.run_cell(case.code)
    return result.error_in_exec or result.error_before_exec, cap.stdout, cap.stderr


def _assert_case(ip, case: Case, secrets: list[str]) -> None:
    magic = ip.magics_manager.registry["ElfsquadMagic"]
    client = magic.session.client
    tokens = client.engine.transport.tokens
    previous = ip.user_ns["previous"]
    error, out, err = _run_case(ip, case)

    if case.error is None:
        assert error is None, f"{case.id}: {error!r}"
        case.check(ip.user_ns["kept"], out)  # type: ignore[misc]
    else:
        assert type(error) is case.error, f"{case.id}: {type(error).__name__}: {error}"
        text = str(error)
        assert case.fragment in text, f"{case.id}: {text!r}"
        assert len(text) < 1500, f"{case.id}: a message of {len(text)} characters"
        # Shown as a short error, never as a traceback from inside the library.
        assert type(error).__name__ in out + err
        assert "Traceback" not in out + err and "site-packages" not in out + err
        assert ip.user_ns["kept"] == KEPT, f"{case.id} replaced an earlier variable"
    # The session is as it was: same login, same token, earlier variables untouched.
    assert magic.session.client is client and client.engine.transport.tokens is tokens
    assert client.logged_in and tokens.has_secret
    assert ip.user_ns["previous"] is previous and previous == [1, 2, 3]
    for secret in secrets:
        assert secret not in out + err


@pytest.fixture
def sandbox_shell(ip, sandbox_env: Sandbox) -> Iterator[Any]:
    """The shell logged in to the shared (read-only) sandbox, with two earlier variables."""
    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
    ip.user_ns.update(kept=KEPT, previous=[1, 2, 3])
    yield ip


@pytest.mark.parametrize("case", SANDBOX_CASES, ids=[c.id for c in SANDBOX_CASES])
def test_sandbox_input(sandbox_shell, sandbox_env: Sandbox, case: Case) -> None:
    _assert_case(sandbox_shell, case, [sandbox_env.client_secret, *sandbox_env.issued_tokens])


# -- answers the sandbox never gives ----------------------------------------------------------


def _html(srv: ScriptedServer, h: BaseHTTPRequestHandler) -> Reply:
    return 200, {"Content-Type": "text/html"}, b"<!DOCTYPE html><html><body>Sign in</body></html>"


def _cut_json(srv: ScriptedServer, h: BaseHTTPRequestHandler) -> Reply:
    return 200, {"Content-Type": "application/json"}, b'{"value": [{"id": 1}, '


def _repeating(srv: ScriptedServer, h: BaseHTTPRequestHandler) -> Reply:
    return page([{"n": 1}, {"n": 2}], f"{srv.url}/data/1/loop?$skip=2")


def _huge(srv: ScriptedServer, h: BaseHTTPRequestHandler) -> Reply:
    return page([{"id": "a", "notes": "é" * 3_000_000}])


def _slow_down(srv: ScriptedServer, h: BaseHTTPRequestHandler) -> Reply:
    return odata_error(429, "Slow down", {"Retry-After": "120"})


def _maintenance(srv: ScriptedServer, h: BaseHTTPRequestHandler) -> Reply:
    html = b"<html><head><title>503 Service Unavailable</title></head><body>...</body></html>"
    return 503, {"Content-Type": "text/html"}, html


ROUTES: dict[str, Callable[[ScriptedServer, BaseHTTPRequestHandler], Reply]] = {
    "/data/1/html": _html,
    "/data/1/notjson": lambda srv, h: (200, {"Content-Type": "application/json"}, b"<<no>>"),
    "/data/1/cutjson": _cut_json,
    "/data/1/empty": lambda srv, h: (200, {"Content-Type": "application/json"}, b""),
    "/data/1/emptypost": lambda srv, h: (200, {}, b""),
    "/data/1/nothing": lambda srv, h: (204, {}, b""),
    "/data/1/loop": _repeating,
    "/data/1/huge": _huge,
    "/data/1/throttled": _slow_down,
    "/data/1/maintenance": _maintenance,
    "/data/1/moved": lambda srv, h: (302, {"Location": "https://elsewhere.example/x"}, b""),
    "/data/1/notacollection": lambda srv, h: json_reply({"value": 5}),
}

SCRIPTED_CASES = [
    Case("HTML answer", "kept = %elfsquad GET /data/1/html", ResponseFormatError, "HTML page"),
    Case(
        "JSON content type, no JSON",
        "kept = %elfsquad GET /data/1/notjson",
        ResponseFormatError,
        "not valid JSON",
    ),
    Case(
        "JSON cut short",
        "kept = %elfsquad GET /data/1/cutjson",
        ResponseFormatError,
        "not valid JSON",
    ),
    Case("empty 200 body", "kept = %elfsquad GET /data/1/empty", ResponseFormatError, "empty body"),
    Case(
        "empty 200 body on POST",
        '%%elfsquad -o kept POST /data/1/emptypost\n{"a": 1}',
        None,
        check=lambda result, out: (
            (result is None and "200 OK (empty body)" in out and "204" not in out)
            or pytest.fail(out)
        ),
    ),
    Case(
        "204 on DELETE",
        "kept = %elfsquad DELETE /data/1/nothing",
        None,
        check=lambda result, out: (result is None and "204 No Content" in out) or pytest.fail(out),
    ),
    Case(
        "next-page link to another host",
        "kept = %elfsquad GET /data/1/foreign",
        InsecureURLError,
        "next-page link",
    ),
    Case(
        "next-page link that repeats",
        "kept = %elfsquad GET /data/1/loop",
        IncompleteResultError,
        "sent before",
    ),
    Case(
        "huge single value",
        "kept = %elfsquad GET /data/1/huge",
        None,
        check=lambda frame, out: len(frame["notes"][0]) == 3_000_000 or pytest.fail("value cut"),
    ),
    Case(
        "429 asking for longer than the retry budget",
        "kept = %elfsquad GET /data/1/throttled",
        RateLimitedError,
        "asks to wait 120 s",
    ),
    Case(
        "503 maintenance page",
        "kept = %elfsquad GET /data/1/maintenance",
        ServerError,
        "503 Service Unavailable",
    ),
    Case("redirect", "kept = %elfsquad GET /data/1/moved", ElfsquadHTTPError, "not followed"),
    Case(
        "'value' that is no list",
        "kept = %elfsquad GET /data/1/notacollection",
        None,
        check=lambda frame, out: (frame["value"].tolist() == [5]) or pytest.fail(repr(frame)),
    ),
]


@pytest.fixture
def other_host() -> Iterator[ScriptedServer]:
    yield from serving()


@pytest.fixture
def scripted_shell(ip, monkeypatch: pytest.MonkeyPatch, other_host: ScriptedServer):
    """The shell logged in to a scripted server (ROUTES), with two earlier variables."""
    srv = ScriptedServer()
    srv.routes.update(ROUTES)
    srv.routes["/data/1/foreign"] = lambda s, h: page(
        [{"n": 1}], f"{other_host.url}/data/1/foreign?$skip=1"
    )
    monkeypatch.setenv("ELFSQUAD_CLIENT_ID", "scripted")
    monkeypatch.setenv("ELFSQUAD_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("ELFSQUAD_LOGIN_URL", srv.url)
    monkeypatch.setenv("ELFSQUAD_API_URL", srv.url)
    ip.run_line_magic("config", "ElfsquadMagic.retry_seconds = 2.0")
    ip.run_line_magic("config", "ElfsquadMagic.progress = False")
    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
    ip.user_ns.update(kept=KEPT, previous=[1, 2, 3])
    yield ip, srv
    srv.close()


@pytest.mark.parametrize("case", SCRIPTED_CASES, ids=[c.id for c in SCRIPTED_CASES])
def test_scripted_answer(scripted_shell, other_host: ScriptedServer, case: Case) -> None:
    ip, srv = scripted_shell
    _assert_case(ip, case, [SECRET, *srv.tokens])
    assert other_host.requests == []  # nothing, least of all the token, went to the other host


def test_the_table_has_at_least_thirty_inputs() -> None:
    assert len(SANDBOX_CASES) + len(SCRIPTED_CASES) >= 30
    assert len({c.id for c in SANDBOX_CASES + SCRIPTED_CASES}) == len(SANDBOX_CASES) + len(
        SCRIPTED_CASES
    )


# -- any string round-trips -------------------------------------------------------------------

# Single characters plus pieces that mean something to OData, URLs, IPython or the placeholders.
_ANY_TEXT = st.lists(
    st.one_of(
        st.sampled_from(list("'\"&#+%?=/\\()$,;: \t{}[]*@!~`^|<>")),
        st.sampled_from(["''", "%27", "%20", "{{x}}", " or 1 eq 1", "é", "東", "\U0001f600"]),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    ),
    max_size=20,
).map("".join)


@pytest.fixture(scope="module")
def roundtrip_sandbox() -> Iterator[Sandbox]:
    """A private sandbox the property test writes its values into."""
    with Sandbox(scale=1, seed=9) as sb:
        yield sb


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_ANY_TEXT, on_the_line=st.booleans())
def test_any_string_round_trips_through_a_body_and_a_filter(
    ip, roundtrip_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, value: str, on_the_line: bool
) -> None:
    """A string sent in a JSON body is stored as is, and a $filter on it finds exactly it."""
    sb = roundtrip_sandbox
    magic = ip.magics_manager.registry["ElfsquadMagic"]
    if magic.session.client is None or magic.session.client.api_url != sb.api_url:
        export_login(monkeypatch, sb)
        with capture_output():
            ip.run_line_magic("elfsquad_login", "")
    new_id = str(uuid.uuid4())
    ip.user_ns.update(body={"id": new_id, "name": value, "order": 1}, value=value)
    ip.run_line_magic("elfsquad", "--json body POST /data/1/categories")
    [stored] = [r for r in sb.rows("Categories") if r["id"] == new_id]
    assert stored["name"] == value

    if on_the_line:
        frame = ip.run_line_magic(
            "elfsquad", "GET /data/1/categories?$filter=name eq {{value}}&$select=id,name"
        )
    else:
        frame = ip.run_cell_magic(
            "elfsquad", "GET /data/1/categories", "$filter=name eq {{value}}\n$select=id,name"
        )
    expected = sorted(r["id"] for r in sb.rows("Categories") if r["name"] == value)
    assert sorted(frame["id"].tolist()) == expected
    assert new_id in expected
    assert set(frame["name"].tolist()) == {value}


def test_errors_from_this_table_are_all_elfsquad_errors() -> None:
    # A user can catch every one of them with one except clause.
    for case in SANDBOX_CASES + SCRIPTED_CASES:
        if case.error is not None and case.error is not IPythonUsageError:
            assert issubclass(case.error, ElfsquadError), case.id
