"""Faults over real HTTP: every cell of the matrix returns exactly the rows the sandbox holds.

Matrix: fault rate 0 / 5 % / 20 % (429 with Retry-After, 503 with an HTML page, connections cut
mid-body, in equal shares), token lifetime long / one second (with the server dropping tokens
before their announced expiry, so both renewal paths run), concurrency 1 / 4, three fault
seeds (each on its own entity set). A cell passes when the frame has the stored rows in key
order, each once, with the stored values.

Beyond the matrix: faults that outlast the retry budget end in IncompleteResultError (never a
partial frame), and a host that accepts connections but never answers ends in a clear error
within the configured time.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from clients import export_login, make_client
from IPython.utils.capture import capture_output
from scripted import ScriptedServer, odata_error, page

from elfsquad_magic.client import ElfsquadClient
from elfsquad_magic.errors import ConnectionFailedError, IncompleteResultError, LoginError
from elfsquad_magic.sandbox import Sandbox

PAGE_SIZE = 25  # 12-16 pages per cell: enough requests for the faults to land on
RETRY_AFTER = 0.05  # seconds a 429 or 503 asks for; the real service says 1 (tested elsewhere)
RATES = (0.0, 0.05, 0.20)
TOKENS = ("long", "short")
CONCURRENCY = (1, 4)
# Each fault seed reads its own set, so the matrix covers strings, numbers, dates, lists.
SEEDS = {11: "Features", 12: "CrmContacts", 13: "Quotations"}
FAULT_KEYS = ("faults_429", "faults_503", "faults_cut")

CELLS = [
    pytest.param(
        rate, tokens, concurrency, seed, id=f"rate{rate:g}-{tokens}-c{concurrency}-s{seed}"
    )
    for rate in RATES
    for tokens in TOKENS
    for concurrency in CONCURRENCY
    # Without faults the seed changes nothing but the set; one seed is enough there.
    for seed in (SEEDS if rate else list(SEEDS)[:1])
]

# Figures of the cells that ran, for the summary test and the reliability section.
FIGURES: list[dict[str, Any]] = []
SUMMARY = Path(__file__).resolve().parents[2] / "test-output" / "fault-matrix.json"


@pytest.fixture(scope="module")
def matrix_sandbox() -> Iterator[Sandbox]:
    """A private sandbox for this module: small pages, a short Retry-After."""
    with Sandbox(scale=1, seed=5, page_size=PAGE_SIZE, retry_after=RETRY_AFTER) as sb:
        yield sb


# -- comparing a frame with the store ---------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, (list, dict, str)) and bool(pd.isna(value)))


def same_value(got: Any, want: Any) -> bool:
    """Whether a frame cell holds the stored JSON value (typed by the frame's dtype)."""
    if want is None:
        return _missing(got)
    if isinstance(want, list):
        return isinstance(got, list) and got == want
    if isinstance(want, bool):
        return not _missing(got) and bool(got) is want
    if isinstance(want, (int, float)):
        return not _missing(got) and math.isclose(float(got), float(want), rel_tol=0, abs_tol=0)
    if isinstance(got, pd.Timestamp) or (got is pd.NaT):
        if want.startswith("0001-01-01"):
            return got is pd.NaT  # .NET's "no date" arrives as NaT
        return got == pd.to_datetime(want, utc=True)
    return got == want


def assert_frame_holds(frame: pd.DataFrame, rows: list[dict[str, Any]]) -> None:
    """Same rows, same order, each once, same values in every stored column."""
    assert frame["id"].tolist() == [row["id"] for row in rows]
    assert frame["id"].is_unique
    assert set(frame.columns) == set(rows[0])
    records = frame.astype(object).to_dict(orient="records")
    for got, want in zip(records, rows, strict=True):
        wrong = {k: (got[k], v) for k, v in want.items() if not same_value(got[k], v)}
        assert not wrong, f"row {want['id']} differs: {wrong}"


def test_the_comparison_notices_a_changed_value(sandbox) -> None:
    rows = sandbox.rows("Vats")
    frame = make_client(sandbox).get("/data/1/vats")
    assert_frame_holds(frame, rows)
    changed = [dict(rows[0], pct=rows[0]["pct"] + 0.01), *rows[1:]]
    with pytest.raises(AssertionError, match="differs"):
        assert_frame_holds(frame, changed)
    with pytest.raises(AssertionError):
        assert_frame_holds(frame.iloc[::-1], rows)  # order counts
    with pytest.raises(AssertionError):
        assert_frame_holds(pd.concat([frame, frame.iloc[:1]]), rows)  # a duplicate counts


# -- the matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "tokens", "concurrency", "seed"), CELLS)
def test_every_cell_returns_exactly_the_stored_rows(
    matrix_sandbox: Sandbox, rate: float, tokens: str, concurrency: int, seed: int
) -> None:
    sb = matrix_sandbox
    entity_set = SEEDS[seed]
    if tokens == "short":
        # Announced for 1 s, dropped by the server after 0.6 s: requests between 0.6 and
        # 0.75 s meet a 401 (renew and repeat), at 0.75 s the client renews by itself.
        sb.configure(token_ttl=1, token_early_expiry=0.4, latency_ms=50)
    else:
        sb.configure(token_ttl=3600, token_early_expiry=0.0, latency_ms=0)
    before, tokens_before = sb.stats, len(sb.issued_tokens)
    # Each cell its own fault sequence, reproducible from its parameters.
    fault_seed = seed * 1000 + round(rate * 100) * 10 + (tokens == "short") * 5 + concurrency
    sb.configure(fault_rate=rate, fault_seed=fault_seed)
    client = make_client(sb, retry_seconds=30, timeout=10, concurrency=concurrency)
    started = time.monotonic()
    try:
        frame = client.get(f"/data/1/{entity_set}", concurrency=concurrency)
    finally:
        sb.configure(fault_rate=0.0)
        client.close()
    elapsed = time.monotonic() - started

    rows = sb.rows(entity_set)
    assert len(rows) > 3 * PAGE_SIZE
    assert_frame_holds(frame, rows)
    assert frame.attrs["elfsquad"]["pages"] == -(-len(rows) // PAGE_SIZE)

    after = sb.stats
    delta = {key: after[key] - before[key] for key in after}
    faults = sum(delta[key] for key in FAULT_KEYS)
    if rate == 0:
        assert faults == 0
    new_tokens = len(sb.issued_tokens) - tokens_before
    if tokens == "short" and elapsed > 0.8:
        assert new_tokens >= 2  # the fetch outlived its first token and renewed it
    FIGURES.append(
        {
            "rate": rate,
            "tokens": tokens,
            "concurrency": concurrency,
            "seed": seed,
            "set": entity_set,
            "rows": len(rows),
            "api_requests": delta["api_requests"],
            **{key: delta[key] for key in FAULT_KEYS},
            "unauthorized": delta["unauthorized"],
            "tokens_issued": new_tokens,
            "seconds": round(elapsed, 2),
        }
    )


def test_the_matrix_injected_every_fault_kind_and_survived_them(matrix_sandbox) -> None:
    if len(FIGURES) < len(CELLS):
        pytest.skip("runs after the whole matrix")
    totals = {key: sum(cell[key] for cell in FIGURES) for key in (*FAULT_KEYS, "unauthorized")}
    assert all(totals[key] > 0 for key in FAULT_KEYS), totals
    assert totals["unauthorized"] > 0, totals  # the 401 renewal path ran too
    summary = {
        "cells": len(FIGURES),
        "rows_checked": sum(cell["rows"] for cell in FIGURES),
        "api_requests": sum(cell["api_requests"] for cell in FIGURES),
        "faults_injected": sum(totals[key] for key in FAULT_KEYS),
        **totals,
        "tokens_issued": sum(cell["tokens_issued"] for cell in FIGURES),
        "seconds": round(sum(cell["seconds"] for cell in FIGURES), 1),
        "cells_detail": FIGURES,
    }
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps(summary, indent=1))


# -- beyond the retry budget ------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", CONCURRENCY)
def test_faults_outlasting_the_budget_raise_incomplete_result_with_the_row_count(
    matrix_sandbox: Sandbox, concurrency: int
) -> None:
    sb = matrix_sandbox
    sb.configure(token_ttl=3600, token_early_expiry=0.0, latency_ms=0)
    client = make_client(sb, retry_seconds=0.3, concurrency=concurrency)
    client.login()
    client.schema()  # $metadata now, so the request count below is pages only
    total = len(sb.rows("Features"))
    # Two pages come through, then every request fails.
    sb.configure(fault_rate=1.0, fault_seed=2, fault_after=2)
    started = time.monotonic()
    try:
        with pytest.raises(IncompleteResultError) as info:
            client.get("/data/1/features", concurrency=concurrency)
    finally:
        sb.configure(fault_rate=0.0)
    assert time.monotonic() - started < 5
    error = info.value
    assert 0 < error.rows_fetched < total
    assert error.rows_fetched % PAGE_SIZE == 0
    assert f"{error.rows_fetched} rows" in error.message
    assert "incomplete" in str(error).lower()
    # The same client works again once the service does.
    assert len(client.get("/data/1/features", concurrency=concurrency)) == total


def test_an_incomplete_fetch_leaves_no_partial_frame_in_the_notebook(
    ip, matrix_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = matrix_sandbox
    sb.configure(token_ttl=3600, token_early_expiry=0.0, latency_ms=0)
    export_login(monkeypatch, sb)
    ip.run_line_magic("config", "ElfsquadMagic.retry_seconds = 0.3")
    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
    ip.run_line_magic("elfsquad", "/data/1/features?$top=1")  # $metadata is cached now
    ip.user_ns["features"] = "previous value"
    sb.configure(fault_rate=1.0, fault_seed=4, fault_after=1)
    try:
        with capture_output() as cap:
            result = ip.run_cell("features = %elfsquad --concurrency 1 GET /data/1/features")
        sb.configure(fault_rate=1.0, fault_seed=4, fault_after=1)
        with capture_output():
            cell = ip.run_cell(
                "%%elfsquad -o features2 --concurrency 4 GET /data/1/features\n$select=id"
            )
    finally:
        sb.configure(fault_rate=0.0)
    assert isinstance(result.error_in_exec, IncompleteResultError)
    assert isinstance(cell.error_in_exec, IncompleteResultError)
    assert f"stopped after {PAGE_SIZE} rows" in cap.stdout
    assert "Traceback" not in cap.stdout
    assert ip.user_ns["features"] == "previous value"
    assert "features2" not in ip.user_ns
    frame = ip.run_line_magic("elfsquad", "GET /data/1/features?$select=id")
    assert len(frame) == len(sb.rows("Features"))  # the session still works


# -- hosts that stop answering ----------------------------------------------------------------


class SilentHost:
    """A loopback port that accepts connections (and request bytes) but never answers."""

    def __init__(self, send_first: bytes = b"") -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.send_first = send_first
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)
            if self.send_first:
                conn.recv(65536)
                conn.sendall(self.send_first)

    def close(self) -> None:
        self.listener.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent_host() -> Iterator[SilentHost]:
    host = SilentHost()
    yield host
    host.close()


@pytest.fixture
def stalling_host() -> Iterator[SilentHost]:
    """Sends the status line, headers and part of the body, then nothing more."""
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
        b'{"value": [{"id": '
    )
    host = SilentHost(send_first=head)
    yield host
    host.close()


@pytest.mark.parametrize("retry_seconds", [0.0, 1.0])
def test_an_api_host_that_never_answers_fails_within_the_configured_time(
    sandbox: Sandbox, silent_host: SilentHost, retry_seconds: float
) -> None:
    client = make_client(sandbox, api_url=silent_host.url, timeout=0.4, retry_seconds=retry_seconds)
    client.login()
    started = time.monotonic()
    with pytest.raises(ConnectionFailedError, match=r"got no answer within 0\.4 s") as info:
        client.get("/data/1/features")
    elapsed = time.monotonic() - started
    assert elapsed < 0.4 + retry_seconds + 0.6
    assert "try again" in (info.value.hint or "")
    assert silent_host.accepted  # the connection was made; only the answer never came


def test_a_body_that_stops_half_way_fails_within_the_configured_time(
    sandbox: Sandbox, stalling_host: SilentHost
) -> None:
    client = make_client(sandbox, api_url=stalling_host.url, timeout=0.4, retry_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(ConnectionFailedError, match=str(stalling_host.url.split("//")[1])):
        client.get("/data/1/features")
    assert time.monotonic() - started < 2.5


def test_a_login_host_that_never_answers_fails_within_the_timeout(
    ip, silent_host: SilentHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELFSQUAD_CLIENT_ID", "someone")
    monkeypatch.setenv("ELFSQUAD_CLIENT_SECRET", "silent-host-secret-value")
    monkeypatch.setenv("ELFSQUAD_LOGIN_URL", silent_host.url)
    monkeypatch.setenv("ELFSQUAD_API_URL", silent_host.url)
    ip.run_line_magic("config", "ElfsquadMagic.timeout = 0.4")
    started = time.monotonic()
    with capture_output() as cap:
        result = ip.run_cell("%elfsquad_login")
    assert time.monotonic() - started < 1.5
    assert isinstance(result.error_in_exec, LoginError)
    assert "did not answer in time" in cap.stdout
    assert "silent-host-secret-value" not in cap.stdout


# -- Retry-After forms and a server going away ------------------------------------------------


@pytest.mark.parametrize("form", ["seconds", "http-date", "fraction"])
def test_retry_after_is_honoured_in_each_form(form: str) -> None:
    calls: list[float] = []

    def throttled(srv: ScriptedServer, h: Any) -> Any:
        calls.append(time.monotonic())
        if len(calls) > 1:
            return page([{"n": 1}])
        value = {
            "seconds": "1",
            # An HTTP-date has whole seconds: "the next second but one" is 1-2 s away.
            "http-date": formatdate(time.time() + 2, usegmt=True),
            "fraction": "0.3",
        }[form]
        return odata_error(429, "Slow down", {"Retry-After": value})

    srv = ScriptedServer()
    srv.routes["/data/1/x"] = throttled
    try:
        client = ElfsquadClient(
            "scripted", "s3cr3t-value", login_url=srv.url, api_url=srv.url, progress=False
        )
        assert client.get("/data/1/x")["n"].tolist() == [1]
    finally:
        srv.close()
    waited = calls[1] - calls[0]
    low, high = {"seconds": (0.95, 1.6), "http-date": (0.95, 2.6), "fraction": (0.28, 0.9)}[form]
    assert low <= waited <= high


def test_a_stopped_sandbox_refuses_connections_instead_of_answering() -> None:
    sb = Sandbox(scale=1, seed=5).start()
    client = make_client(sb, retry_seconds=0.5)
    assert len(client.get("/data/1/vats")) == 4  # a keep-alive connection is now pooled
    sb.stop()
    with pytest.raises(ConnectionFailedError, match="could not connect"):
        client.get("/data/1/vats")
    assert sb.stats["errors_500"] == 0


@pytest.mark.slow
def test_a_large_set_with_the_real_page_size_and_retry_after() -> None:
    """The service's own numbers: 500-row pages, Retry-After 1 s, 20 % faults, 5,800 rows."""
    concurrency = 4
    with Sandbox(scale=1, seed=5, fault_rate=0.2, fault_seed=21 + concurrency) as sb:
        client = make_client(sb, concurrency=concurrency, retry_seconds=30)
        frame = client.get("/data/1/quotationlines", concurrency=concurrency)
        sb.configure(fault_rate=0.0)
        rows = sb.rows("QuotationLines")
        assert_frame_holds(frame, rows)
        assert sum(sb.stats[key] for key in FAULT_KEYS) > 0
