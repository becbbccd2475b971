"""Errors from the sandbox, token expiry during a query, and injected faults."""

from __future__ import annotations

import time

import pytest
from clients import make_client

from elfsquad_magic.errors import (
    BadRequestError,
    ConnectionFailedError,
    ElfsquadHTTPError,
    IncompleteResultError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)


def test_unknown_entity_set_is_a_404_with_a_hint(sandbox) -> None:
    with pytest.raises(NotFoundError) as info:
        make_client(sandbox).get("/data/1/featurez")
    error = info.value
    assert error.status == 404 and error.method == "GET"
    assert f"GET {sandbox.api_url}/data/1/featurez" in error.message
    assert "featurez" in (error.server_message or "")
    assert "Did you mean Features" in (error.hint or "")


def test_unknown_property_is_a_400_with_the_server_message(sandbox) -> None:
    with pytest.raises(BadRequestError) as info:
        make_client(sandbox).get("/data/1/features", filter="nosuch eq 1")
    assert "HTTP 400" in info.value.message
    assert "nosuch" in (info.value.server_message or "")
    # The URL is shown as written, but for its spaces: a notebook links the whole URL.
    assert "$filter=nosuch%20eq%201" in info.value.message


def test_method_not_allowed(sandbox) -> None:
    with pytest.raises(ElfsquadHTTPError) as info:
        make_client(sandbox).request("PUT", "/data/1/features")
    assert info.value.status == 405


def test_error_leaves_the_client_usable(sandbox) -> None:
    client = make_client(sandbox)
    with pytest.raises(NotFoundError):
        client.get("/data/1/nope")
    assert client.logged_in
    assert len(client.get("/data/1/vats")) == len(sandbox.rows("Vats"))


def test_expired_token_is_renewed_on_401_and_the_call_repeated(fresh_sandbox) -> None:
    client = make_client(fresh_sandbox)
    client.login()
    fresh_sandbox.expire_tokens()
    before = fresh_sandbox.stats["unauthorized"]
    frame = client.get("/data/1/vats")
    assert len(frame) == len(fresh_sandbox.rows("Vats"))
    assert fresh_sandbox.stats["unauthorized"] == before + 1
    assert len(fresh_sandbox.issued_tokens) == 2


@pytest.mark.timing
def test_query_running_across_token_expiry_completes(fresh_sandbox) -> None:
    fresh_sandbox.configure(token_ttl=2, latency_ms=250, page_size=40)
    client = make_client(fresh_sandbox, concurrency=1)  # sequential, so the walk outlives a token
    started = time.monotonic()
    frame = client.get("/data/1/features")
    assert time.monotonic() - started > 2.0  # the query outlived its first token
    assert frame["id"].tolist() == [r["id"] for r in fresh_sandbox.rows("Features")]
    assert len(fresh_sandbox.issued_tokens) >= 2


def test_query_survives_injected_faults_exactly(fresh_sandbox) -> None:
    fresh_sandbox.configure(fault_rate=0.25, fault_seed=3, page_size=50)
    client = make_client(fresh_sandbox, retry_seconds=30)
    frame = client.get("/data/1/features")
    fresh_sandbox.configure(fault_rate=0.0)
    expected = [r["id"] for r in fresh_sandbox.rows("Features")]
    assert frame["id"].tolist() == expected
    stats = fresh_sandbox.stats
    assert stats["faults_429"] + stats["faults_503"] + stats["faults_cut"] > 0


def test_faults_beyond_the_budget_say_how_many_rows_were_fetched(fresh_sandbox) -> None:
    client = make_client(fresh_sandbox, retry_seconds=0.5)
    first = client.get("/data/1/quotationlines", paginate=False)  # logs in, warms up
    assert len(first) == 500
    fresh_sandbox.configure(page_size=100)
    frame_error = None
    # The first page comes through; then every request fails.
    original = client.engine.transport.request

    def fail_after_first(method, url, **kwargs):  # noqa: ANN001, ANN202
        response = original(method, url, **kwargs)
        fresh_sandbox.configure(fault_rate=1.0)
        return response

    client.engine.transport.request = fail_after_first  # type: ignore[method-assign]
    try:
        client.get("/data/1/quotationlines")
    except IncompleteResultError as exc:
        frame_error = exc
    finally:
        fresh_sandbox.configure(fault_rate=0.0)
    assert frame_error is not None
    assert frame_error.rows_fetched == 100
    assert "stopped after 100 rows" in frame_error.message
    assert isinstance(frame_error, IncompleteResultError)


@pytest.mark.timing
def test_server_that_keeps_failing_ends_in_a_clear_error(fresh_sandbox) -> None:
    fresh_sandbox.configure(fault_rate=1.0)
    client = make_client(fresh_sandbox, retry_seconds=1.0)
    started = time.monotonic()
    with pytest.raises((ServerError, RateLimitedError, ConnectionFailedError)):
        client.get("/data/1/vats")
    assert time.monotonic() - started < 5


def test_a_misspelt_entity_set_gets_close_matches_from_the_schema(sandbox) -> None:
    from clients import make_client

    from elfsquad_magic.errors import NotFoundError

    client = make_client(sandbox)
    client.get("/data/1/vats")  # the schema is cached by the first query
    before = sandbox.stats["requests"]
    with pytest.raises(NotFoundError) as caught:
        client.get("/data/1/featurez")
    assert sandbox.stats["requests"] == before + 1  # the 404 itself, no schema request
    assert "Did you mean Features" in caught.value.hint
    assert "featurez" in str(caught.value)
    fresh = make_client(sandbox)
    with pytest.raises(NotFoundError, match="Did you mean Quotations"):
        fresh.get("/data/1/quotation")  # the schema is read once, for the suggestion
    with pytest.raises(NotFoundError) as missing_key:
        client.get("/data/1/features(00000000-0000-4000-8000-000000000000)")
    assert "Did you mean" not in str(missing_key.value)


@pytest.mark.parametrize(
    ("options", "misspelt", "meant"),
    [
        ({"select": "nme,articleCode"}, "nme", "name"),
        ({"filter": "salesPrise gt 100"}, "salesPrise", "salesPrice"),
        ({"orderby": "articleCod desc"}, "articleCod", "articleCode"),
        ({"expand": "categry"}, "categry", "category"),
    ],
)
def test_a_misspelt_property_gets_close_names_from_the_cached_schema(
    sandbox, options, misspelt, meant
) -> None:
    from clients import make_client

    from elfsquad_magic.errors import BadRequestError

    client = make_client(sandbox)
    client.get("/data/1/vats")  # the schema is cached by the first query
    session = client.engine.transport.session
    sent, original = [], session.request
    session.request = lambda method, url, *a, **k: (
        sent.append(url) or original(method, url, *a, **k)
    )
    with pytest.raises(BadRequestError) as caught:
        client.get("/data/1/features", **options)
    assert sent and not any("$metadata" in url for url in sent)  # no schema request
    assert f"{misspelt!r}: did you mean {meant}" in caught.value.hint
    assert "%elfsquad_describe Features" in caught.value.hint


def test_a_syntax_error_gets_no_property_suggestion(sandbox) -> None:
    from clients import make_client

    from elfsquad_magic.errors import BadRequestError

    client = make_client(sandbox)
    client.get("/data/1/vats")
    with pytest.raises(BadRequestError) as caught:
        client.get("/data/1/features", filter="salesPrice gtt 100")
    assert "gtt" in caught.value.message and "did you mean" not in (caught.value.hint or "")


def test_a_record_that_is_not_there_says_so(fresh_sandbox) -> None:
    from clients import make_client

    from elfsquad_magic.errors import NotFoundError

    client = make_client(fresh_sandbox)
    row = fresh_sandbox.rows("Vats")[0]
    client.delete(f"/data/1/vats({row['id']})")
    with pytest.raises(NotFoundError) as caught:
        client.get(f"/data/1/vats({row['id']})")
    assert f"no Vats record with the key {row['id']}" in caught.value.hint
    assert "entity-set name" not in caught.value.hint


def test_a_script_reads_hints_in_the_clients_words(sandbox, tmp_path) -> None:
    """No IPython shell: the hint names the client call, not the magic."""
    import subprocess
    import sys

    script = tmp_path / "script.py"
    script.write_text(
        "from elfsquad_magic import ElfsquadClient\n"
        "from elfsquad_magic.errors import NotFoundError\n"
        f"client = ElfsquadClient({sandbox.client_id!r}, {sandbox.client_secret!r}, "
        f"login_url={sandbox.login_url!r}, api_url={sandbox.api_url!r}, progress=False)\n"
        "try:\n"
        "    client.get('/data/1/featurez')\n"
        "except NotFoundError as error:\n"
        "    print(error)\n",
        encoding="utf-8",
    )
    said = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "Did you mean Features" in said
    assert "client.schema().entity_sets" in said and "%elfsquad" not in said
