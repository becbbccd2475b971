"""Tab completion in %elfsquad / %%elfsquad through IPython's own Completer.completions API."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from clients import logged_in_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.completer import provisionalcompleter

from elfsquad_magic.client import ElfsquadClient
from elfsquad_magic.core.schema import ServiceSchema
from elfsquad_magic.notebook.arguments import option_names, value_options
from elfsquad_magic.notebook.completion import (
    API_ROOTS,
    QUERY_OPTIONS,
    CompleterHandle,
    install_completer,
    uninstall_completer,
)
from elfsquad_magic.notebook.magics import ElfsquadMagic
from elfsquad_magic.sandbox import Sandbox


@pytest.fixture(scope="module")
def client(sandbox: Sandbox) -> ElfsquadClient:
    return logged_in_client(sandbox)


class _Current:
    """Which client the completer sees; tests swap it to log in and out."""

    def __init__(self, client: Any = None) -> None:
        self.client = client

    def __call__(self) -> Any:
        return self.client


@pytest.fixture
def shell() -> Iterator[Any]:
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    # start_ipython() builds the shell once per process and returns None on later calls.
    start_ipython()
    yield get_ipython()


@pytest.fixture
def current(shell: Any, client: ElfsquadClient) -> Iterator[_Current]:
    """A bare IPython shell with the completer installed over a logged-in sandbox client."""
    holder = _Current(client)
    parser = ElfsquadMagic.elfsquad.parser
    handle = install_completer(
        shell, holder, value_options=value_options(parser), option_names=option_names(parser)
    )
    holder.handle = handle  # type: ignore[attr-defined]
    yield holder
    uninstall_completer(shell, handle)


def complete(shell: Any, text: str, cursor: int | None = None) -> list[Any]:
    """IPython's completions at ``cursor`` (default: the end of ``text``)."""
    offset = len(text) if cursor is None else cursor
    with provisionalcompleter():
        return list(shell.Completer.completions(text, offset))


def texts(shell: Any, text: str, cursor: int | None = None) -> list[str]:
    return [c.text for c in complete(shell, text, cursor)]


def applied(text: str, completion: Any) -> str:
    """The text after the editor applies ``completion``."""
    return text[: completion.start] + completion.text + text[completion.end :]


# -- line magic ------------------------------------------------------------------------------


def test_after_the_method_the_api_roots_complete(shell: Any, current: _Current) -> None:
    assert sorted(texts(shell, "%elfsquad GET ")) == sorted(API_ROOTS)
    [only] = complete(shell, "%elfsquad GET /da")
    assert applied("%elfsquad GET /da", only) == "%elfsquad GET /data/1/"


def test_after_options_and_in_an_assignment_the_roots_complete(
    shell: Any, current: _Current
) -> None:
    line = "features = %elfsquad -o f --limit 10 GET /q"
    assert texts(shell, line) == ["/quotation/1/"]


def test_after_data_root_every_entity_set_of_metadata_completes(
    shell: Any, current: _Current, metadata: ServiceSchema
) -> None:
    assert sorted(texts(shell, "%elfsquad GET /data/1/")) == sorted(metadata.entity_sets)


def test_entity_sets_match_in_any_casing_and_complete_in_the_servers_casing(
    shell: Any, current: _Current
) -> None:
    line = "%elfsquad GET /data/1/quotationl"
    [only] = complete(shell, line)
    assert only.type == "entityset"
    assert applied(line, only) == "%elfsquad GET /data/1/QuotationLines"
    assert "Quotations" in texts(shell, "%elfsquad GET /data/1/QUOTATIONS")


def test_query_string_on_the_line_completes_options_and_properties(
    shell: Any, current: _Current
) -> None:
    assert texts(shell, "%elfsquad GET /data/1/features?$sel") == ["$select="]
    line = "%elfsquad GET /data/1/features?$top=5&$select=name,salesp"
    [only] = complete(shell, line)
    assert applied(line, only).endswith("$select=name,salesPrice")


def test_describe_completes_entity_set_names(shell: Any, current: _Current) -> None:
    assert texts(shell, "%elfsquad_describe crmaccounts") == ["CrmAccounts"]
    assert "CrmAccountProperties" in texts(shell, "%elfsquad_describe CRMACC")


def test_options_complete_after_a_dash(shell: Any, current: _Current) -> None:
    """The README promises completion of the magic's options: <Tab> after ``--``."""
    every = option_names(ElfsquadMagic.elfsquad.parser)
    assert "--limit" in every and "--sync" in every
    assert texts(shell, "%%elfsquad --") == sorted(every)
    assert texts(shell, "%elfsquad --no-p") == ["--no-paginate", "--no-progress"]
    assert texts(shell, "%elfsquad --limit 5 --sy") == ["--sync"]


def test_describe_completes_api_paths(shell: Any, current: _Current) -> None:
    assert texts(shell, "%elfsquad_describe /quo") == ["/quotation/1/"]
    assert "invoke" in texts(shell, "%elfsquad_describe /quotation/1/quotations/{id}/inv")


# -- cell magic ------------------------------------------------------------------------------

CELL = "%%elfsquad GET /data/1/features\n"


def test_cell_first_line_completes_entity_sets(shell: Any, current: _Current) -> None:
    cell = "%%elfsquad GET /data/1/feat\n$top=5"
    cursor = cell.index("\n")
    result = complete(shell, cell, cursor)
    assert "Features" in [c.text for c in result]
    features = next(c for c in result if c.text == "Features")
    assert applied(cell, features) == "%%elfsquad GET /data/1/Features\n$top=5"


def test_cell_body_reads_the_set_after_options_and_navigation(
    shell: Any, current: _Current
) -> None:
    cell = "%%elfsquad -o lines --limit 5 GET /data/1/quotations(1)/debtor\n$select=compan"
    assert texts(shell, cell) == ["companyName"]
    cell = "%%elfsquad --limit 5 /data/1/quotationlines\n$select=artic"
    assert texts(shell, cell) == ["articleCode"]


def test_cell_body_completes_the_option_names(shell: Any, current: _Current) -> None:
    assert sorted(texts(shell, CELL + "$")) == sorted(QUERY_OPTIONS)
    assert texts(shell, CELL + "$or") == ["$orderby="]
    # The dollar is easy to forget.
    assert texts(shell, CELL + "fil") == ["$filter="]


def test_select_and_orderby_complete_property_names_after_each_comma(
    shell: Any, current: _Current, metadata: ServiceSchema
) -> None:
    features = metadata.find("Features")
    assert features is not None
    assert sorted(texts(shell, CELL + "$select=")) == sorted(features.properties)
    assert texts(shell, CELL + "$select=name, articleC") == ["articleCode"]
    assert texts(shell, CELL + "$orderby=salesPrice desc,na") == ["name"]
    assert texts(shell, CELL + "$orderby=salesPrice d") == ["desc"]


def test_filter_completes_properties_after_operators_and_operators_after_properties(
    shell: Any, current: _Current
) -> None:
    cell = CELL + "$filter=salesPrice gt 100 and artic"
    [only] = complete(shell, cell)
    assert applied(cell, only) == CELL + "$filter=salesPrice gt 100 and articleCode"
    assert texts(shell, CELL + "$filter=SALESPR") == ["salesPrice"]
    assert texts(shell, CELL + "$filter=contains(artic") == ["articleCode"]
    assert set(texts(shell, CELL + "$filter=salesPrice g")) == {"ge", "gt"}
    # Elfsquad's own examples write PascalCase names: operators follow them too.
    assert set(texts(shell, CELL + "$filter=SalesPrice g")) == {"ge", "gt"}
    assert texts(shell, "%%elfsquad GET /data/1/QUOTATIONLINES\n$select=ArticleC") == [
        "articleCode"
    ]
    assert set(texts(shell, CELL + "$filter=salesPrice gt 100 ")) == {"and", "or"}
    # Inside a string literal nothing is completed.
    assert texts(shell, CELL + "$filter=name eq 'artic") == []


def test_expand_completes_navigation_properties(
    shell: Any, current: _Current, metadata: ServiceSchema
) -> None:
    lines = metadata.find("QuotationLines")
    assert lines is not None
    cell = "%%elfsquad GET /data/1/quotationlines\n$expand="
    assert sorted(texts(shell, cell)) == sorted(lines.navigation)
    assert texts(shell, cell + "featu") == ["feature"]


def test_cell_body_completion_uses_the_line_at_the_cursor(shell: Any, current: _Current) -> None:
    cell = CELL + "$select=na\n$top=5\n$orderby=name"
    cursor = cell.index("$select=na") + len("$select=na")
    [only] = complete(shell, cell, cursor)
    assert applied(cell, only) == CELL + "$select=name\n$top=5\n$orderby=name"


def test_a_json_body_gets_no_option_completion(shell: Any, current: _Current) -> None:
    cell = '%%elfsquad POST /data/1/features\n{\n  "na'
    assert "$filter=" not in texts(shell, cell)
    assert "name" not in texts(shell, cell)


def test_other_cells_are_left_to_ipython(shell: Any, current: _Current) -> None:
    shell.user_ns["elfsquad_example_value"] = 1
    assert "elfsquad_example_value" in texts(shell, "elfsquad_example_v")
    del shell.user_ns["elfsquad_example_value"]


# -- Quotation and Configurator APIs -------------------------------------------------------


def test_quotation_paths_complete_segment_by_segment(shell: Any, current: _Current) -> None:
    assert "quotations/" in texts(shell, "%elfsquad PUT /quotation/1/")
    assert "{quotationId}/" in texts(shell, "%elfsquad PUT /quotation/1/quotations/")
    guid = "6f1c2c9e-0000-4000-8000-000000000001"
    assert texts(shell, f"%elfsquad PUT /quotation/1/quotations/{guid}/rev") == ["revise"]


def test_configurator_paths_complete_with_the_version_filled_in(
    shell: Any, current: _Current
) -> None:
    assert texts(shell, "%elfsquad GET /configurator/1/") == ["configurator/"]
    assert "configurationmodels" in texts(shell, "%elfsquad GET /configurator/1/configurator/c")
    # Elfsquad's configurator library moved to version 3 in 2026: both roots complete.
    assert "/configurator/3/" in texts(shell, "%elfsquad GET /conf")
    assert texts(shell, "%elfsquad GET /configurator/3/") == ["configurator/"]
    assert "configurationmodels" in texts(shell, "%elfsquad GET /configurator/3/configurator/c")


def test_scim_paths_complete(shell: Any, current: _Current) -> None:
    assert "/scim/2/" in texts(shell, "%elfsquad GET /s")
    assert texts(shell, "%elfsquad GET /scim/2/") == ["Users", "Users/"]


def test_api_paths_come_from_the_services_swagger_document_fetched_once(
    fresh_sandbox: Sandbox,
) -> None:
    from elfsquad_magic.notebook.completion_cache import CompletionCache, shipped_paths

    client = logged_in_client(fresh_sandbox)
    served = client.request(
        "GET", "/quotation/1/swagger/v1/swagger.json", raw=True, paginate=False, progress=False
    )
    assert isinstance(served, dict) and served["paths"]
    cache = CompletionCache(lambda: client)
    before = fresh_sandbox.stats["requests"]
    assert set(cache.api_paths("quotation")) == set(served["paths"])
    assert fresh_sandbox.stats["requests"] == before + 1
    cache.api_paths("quotation")
    assert fresh_sandbox.stats["requests"] == before + 1  # cached
    configurator = cache.api_paths("configurator")
    assert configurator == shipped_paths("configurator")
    assert all(p.startswith("/configurator/1/configurator/") for p in configurator)


def test_without_a_login_the_shipped_descriptions_still_complete(shell: Any) -> None:
    handle = install_completer(shell, lambda: None)
    try:
        assert "{quotationId}/" in texts(shell, "%elfsquad PUT /quotation/1/quotations/")
        assert sorted(texts(shell, "%elfsquad GET ")) == sorted(API_ROOTS)
        assert texts(shell, "%elfsquad GET /data/1/quo") == []
    finally:
        uninstall_completer(shell, handle)


# -- never blocks, never raises, follows the login -----------------------------------------


def test_cold_cache_with_the_server_down_gives_no_completions_quickly(
    shell: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    sb = Sandbox(scale=1, seed=3)
    sb.start()
    client = logged_in_client(sb)
    sb.stop()  # the port is closed now; nothing has fetched $metadata yet
    handle = install_completer(shell, lambda: client, wait=1.0)
    try:
        started = time.monotonic()
        assert texts(shell, "%elfsquad GET /data/1/quo") == []
        assert time.monotonic() - started < 2.5
        started = time.monotonic()
        assert texts(shell, CELL + "$select=na") == []
        assert time.monotonic() - started < 0.5  # the failure (or the wait) is remembered
        assert sorted(texts(shell, "%elfsquad GET ")) == sorted(API_ROOTS)
        time.sleep(0.3)  # the background fetch retries meanwhile; its warnings stay quiet
    finally:
        uninstall_completer(shell, handle)
    assert "Traceback" not in capsys.readouterr().err
    assert not [r for r in caplog.records if r.name.startswith("urllib3")]


def test_a_failing_client_lookup_never_reaches_the_editor(
    shell: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> Any:
        raise RuntimeError("session gone")

    handle = install_completer(shell, broken)
    try:
        assert texts(shell, "%elfsquad GET /data/1/quo") == []
    finally:
        uninstall_completer(shell, handle)
    assert "Traceback" not in capsys.readouterr().err


def test_logout_and_another_host_drop_the_cached_schema(
    shell: Any, current: _Current, fresh_sandbox: Sandbox
) -> None:
    assert "Quotations" in texts(shell, "%elfsquad GET /data/1/quo")
    current.client = None  # logged out
    assert texts(shell, "%elfsquad GET /data/1/quo") == []
    other = logged_in_client(fresh_sandbox)
    current.client = other
    assert "Quotations" in texts(shell, "%elfsquad GET /data/1/quo")
    handle: CompleterHandle = current.handle  # type: ignore[attr-defined]
    assert handle.cache.cached_for is other


def test_installing_again_replaces_the_earlier_matcher(shell: Any) -> None:
    first = install_completer(shell, lambda: None)
    second = install_completer(shell, lambda: None)
    try:
        assert first.matcher not in shell.Completer.custom_matchers
        assert shell.Completer.custom_matchers.count(second.matcher) == 1
    finally:
        uninstall_completer(shell, second)


def test_uninstall_removes_the_matcher(shell: Any, client: ElfsquadClient) -> None:
    handle = install_completer(shell, lambda: client)
    uninstall_completer(shell, handle)
    assert handle.matcher not in shell.Completer.custom_matchers
    assert texts(shell, "%elfsquad GET /data/1/quotationl") != ["QuotationLines"]
    uninstall_completer(shell, handle)  # twice is harmless


# -- the extension, end to end -------------------------------------------------------------


def test_loaded_extension_completes_after_login(ip: Any, sandbox_env: Sandbox) -> None:
    ip.run_line_magic("elfsquad_login", "")
    try:
        line = "%elfsquad GET /data/1/quotationl"
        assert texts(ip, line) == ["QuotationLines"]
        assert texts(ip, CELL + "$select=name,salesp") == ["salesPrice"]
    finally:
        ip.run_line_magic("elfsquad_logout", "")
    assert texts(ip, line) == []


def test_a_jupyter_kernel_answers_complete_requests_with_the_matcher(sandbox_env: Sandbox) -> None:
    """What JupyterLab does: a complete_request to a real ipykernel, logged in from env vars."""
    jupyter_client = pytest.importorskip("jupyter_client")
    manager, kc = jupyter_client.manager.start_new_kernel(
        kernel_name="python3", env=dict(os.environ)
    )
    try:
        reply = kc.execute_interactive(
            "%load_ext elfsquad_magic\n%elfsquad_login", allow_stdin=False, timeout=60
        )
        assert reply["content"]["status"] == "ok"
        code = "%%elfsquad GET /data/1/quotationl\n$select=quotationId,artic"
        first_line = code.index("\n")
        answer = kc.complete(code, first_line, reply=True, timeout=30)["content"]
        assert answer["matches"] == ["QuotationLines"]
        assert code[answer["cursor_start"] : answer["cursor_end"]] == "quotationl"
        code = code.replace("quotationl", "QuotationLines")
        answer = kc.complete(code, len(code), reply=True, timeout=30)["content"]
        assert answer["matches"] == ["articleCode"]
        assert code[answer["cursor_start"] : answer["cursor_end"]] == "artic"
    finally:
        kc.stop_channels()
        manager.shutdown_kernel(now=True)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.text(alphabet=st.sampled_from(list("$=,()' /.&?%abcdelnqrstuiGET01\n")), max_size=40),
    cut=st.integers(min_value=0, max_value=80),
)
def test_any_text_gives_suggestions_that_replace_text_before_the_cursor(
    client: ElfsquadClient, body: str, cut: int
) -> None:
    from elfsquad_magic.notebook.completion import suggest
    from elfsquad_magic.notebook.completion_cache import CompletionCache

    cache = CompletionCache(lambda: client)
    for text in (CELL + body, "%elfsquad GET /data/1/" + body, "%%elfsquad " + body):
        offset = min(cut, len(text))
        before = text[:offset]
        line = before.count("\n")
        column = offset - (before.rfind("\n") + 1)
        suggestion = suggest(text, line, column, cache)
        assert before.endswith(suggestion.fragment)
        assert all(isinstance(t, str) and t for t in suggestion.texts)
