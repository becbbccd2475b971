"""Concurrent $skip windows: the same frame as the sequential walk, politely, interruptibly.

Exactness runs against real sandboxes with small pages (many windows); the cases the sandbox
cannot produce on demand (one 429 at a chosen moment, a server refusing or ignoring $skip) run
against the scripted loopback server.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import pytest
from clients import make_client
from scripted import ScriptedServer, json_reply, odata_error, serving

from elfsquad_magic.client import ElfsquadClient
from elfsquad_magic.errors import BadRequestError, DataChangedWarning, NotFoundError
from elfsquad_magic.sandbox import Sandbox

PAGE = 50


class Recorder:
    """Wraps a client's HTTP session: every data request's URL, start time, and the most
    requests in flight at once."""

    def __init__(self, client: ElfsquadClient) -> None:
        self.urls: list[str] = []
        self.starts: list[float] = []
        self.in_flight = 0
        self.most = 0
        self._lock = threading.Lock()
        session = client.engine.transport.session
        original = session.request

        def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.urls.append(url)
                self.starts.append(time.monotonic())
                self.in_flight += 1
                self.most = max(self.most, self.in_flight)
            try:
                return original(method, url, *args, **kwargs)
            finally:
                with self._lock:
                    self.in_flight -= 1

        session.request = request  # type: ignore[method-assign]

    def counted(self) -> list[str]:
        """The requests that asked the service to count the set."""
        return [url for url in self.urls if dict(parse_qsl(urlsplit(url).query)).get("$count")]

    def windows(self) -> list[dict[str, str]]:
        """Query options of the window requests (the ones with both $skip and $top)."""
        options = [dict(parse_qsl(urlsplit(url).query)) for url in self.urls]
        return [o for o in options if "$skip" in o and "$top" in o]


@pytest.fixture
def mutable() -> Iterator[Sandbox]:
    """A private small-page sandbox for tests that write or inject faults."""
    with Sandbox(scale=1, seed=9, page_size=PAGE, retry_after=0.05) as sb:
        yield sb


def both(client: ElfsquadClient, path: str, **options: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    concurrent = client.get(path, concurrency=4, **options)
    sequential = client.get(path, concurrency=1, **options)
    return concurrent, sequential


QUERIES = [
    pytest.param("/data/1/QuotationLines", {}, id="whole-set"),
    pytest.param(
        "/data/1/quotationlines",
        {"orderby": "lineNumber desc", "select": "id,lineNumber,unitPrice,createdDate"},
        id="orderby-without-key",
    ),
    pytest.param(
        "/data/1/QuotationLines",
        {"filter": "quantity gt 1", "orderby": "unitPrice,id desc"},
        id="filter-and-orderby-with-key",
    ),
    pytest.param(
        "/data/1/QuotationLines",
        {"expand": "feature($select=name,salesPrice)", "select": "id,featureId,quantity"},
        id="expanded",
    ),
    pytest.param("/data/1/Quotations", {}, id="collections-and-long-text"),
]


@pytest.mark.parametrize(("path", "options"), QUERIES)
def test_concurrent_frame_is_identical_to_the_sequential_one(small_pages, path, options) -> None:
    client = make_client(small_pages)
    recorder = Recorder(client)
    concurrent, sequential = both(client, path, **options)
    pd.testing.assert_frame_equal(concurrent, sequential, check_exact=True)
    assert concurrent.attrs["elfsquad"]["pages"] == sequential.attrs["elfsquad"]["pages"]
    assert len(concurrent) > 3 * PAGE and concurrent["id"].is_unique
    assert recorder.windows(), "the concurrent fetch used no $skip windows"
    assert all(w["$top"] == str(PAGE) or int(w["$top"]) < PAGE for w in recorder.windows())


def test_whole_set_equals_the_store_in_key_order(small_pages) -> None:
    client = make_client(small_pages)
    recorder = Recorder(client)
    frame = client.get("/data/1/QuotationLines", concurrency=4)
    rows = small_pages.rows("QuotationLines")
    assert frame["id"].tolist() == [r["id"] for r in rows]
    assert frame["unitPrice"].tolist() == [r["unitPrice"] for r in rows]
    windows = recorder.windows()
    assert len(windows) == -(-len(rows) // PAGE) - 1  # every page after the first, once
    assert {w["$orderby"] for w in windows} == {"id"}
    assert 1 < recorder.most <= 4  # concurrent, and never more than asked


def test_faults_change_nothing(mutable) -> None:
    client = make_client(mutable, retry_seconds=30)
    # 40-odd pages: enough for every fault kind, few enough for the retries' backoff.
    query = {"filter": "lineNumber le 8"}
    expected = client.get("/data/1/QuotationLines", concurrency=1, **query)
    mutable.configure(fault_rate=0.2, fault_seed=5)
    try:
        faulty = client.get("/data/1/QuotationLines", concurrency=4, **query)
    finally:
        mutable.configure(fault_rate=0.0)
    pd.testing.assert_frame_equal(faulty, expected, check_exact=True)
    stats = mutable.stats
    assert stats["faults_429"] and stats["faults_503"] and stats["faults_cut"]


@pytest.mark.parametrize(
    ("path", "options", "error"),
    [
        ("/data/1/QuotationLines", {"filter": "nosuch eq 1"}, BadRequestError),
        ("/data/1/featurez", {"select": "id"}, NotFoundError),
    ],
)
def test_errors_name_the_request_as_written_without_the_added_count(
    small_pages, path: str, options: dict, error: type
) -> None:
    client = make_client(small_pages)
    recorder = Recorder(client)
    with pytest.raises(error) as caught:
        client.get(path, concurrency=4, **options)
    assert "$count=true" in recorder.urls[0]  # it was sent...
    assert "$count" not in str(caught.value)  # ...but the user did not write it
    assert "$count" not in caught.value.url
    assert path in caught.value.url


def test_the_set_is_counted_twice_per_fetch_not_once_per_window(small_pages) -> None:
    client = make_client(small_pages)
    recorder = Recorder(client)
    frame = client.get("/data/1/QuotationLines", select="id", concurrency=4)
    windows = recorder.windows()
    assert len(windows) > 50  # a fetch of many pages...
    assert not any("$count" in window for window in windows)
    counted = recorder.counted()
    assert len(counted) == 2  # ...counts on its first page and once more at the end
    assert "$top=0" in counted[-1]
    assert frame["id"].tolist() == [r["id"] for r in small_pages.rows("QuotationLines")]


def test_a_count_that_changed_by_the_end_refetches_page_by_page(small_pages) -> None:
    """Rows deleted after their window was read leave every window full when a --limit ends
    the fetch early; only the closing count notices."""
    client = make_client(small_pages)
    client.login()
    transport = client.engine.transport
    original = transport.request

    def request(method: str, url: str, **kwargs: Any) -> Any:
        response = original(method, url, **kwargs)
        if "$top=0" in url:  # the closing count: pretend a row went meanwhile
            body = response.json()
            body["@odata.count"] -= 1
            response._content = json.dumps(body).encode()
        return response

    transport.request = request  # type: ignore[method-assign]
    with pytest.warns(DataChangedWarning, match="count went from"):
        frame = client.get("/data/1/QuotationLines", select="id", limit=2000, concurrency=4)
    assert frame["id"].tolist() == [r["id"] for r in small_pages.rows("QuotationLines")[:2000]]


def test_count_is_asked_for_but_stays_out_of_sight(small_pages) -> None:
    client = make_client(small_pages)
    recorder = Recorder(client)
    frame = client.get("/data/1/QuotationLines", select="id", concurrency=4)
    assert "$count=true" in recorder.urls[-1]
    meta = frame.attrs["elfsquad"]
    assert meta["count"] is None and "$count" not in meta["url"]
    assert list(frame.columns) == ["id"]
    raw = client.get("/data/1/QuotationLines", select="id", raw=True)
    assert "@odata.count" not in raw  # --raw shows the answer to the request as written
    asked = client.get("/data/1/QuotationLines", select="id", count=True)
    assert asked.attrs["elfsquad"]["count"] == len(asked)


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"top": 1200}, "the user pages with $top"),
        ({"skip": 10}, "the user pages with $skip"),
        ({"limit": 80}, "two pages or fewer are wanted"),
        ({"filter": "two pages"}, "the result is two pages"),
        ({"concurrency": 1}, "concurrency 1 walks the links"),
    ],
)
def test_sequential_walk_when_windows_do_not_fit(small_pages, options, why) -> None:
    options = {"concurrency": 4, **options}
    if options.get("filter"):
        # The lowest line number whose lines fill more than one page but at most two.
        rows = small_pages.rows("QuotationLines")
        lowest = next(
            n for n in range(200) if PAGE < sum(r["lineNumber"] >= n for r in rows) <= 2 * PAGE
        )
        options["filter"] = f"lineNumber ge {lowest}"
    client = make_client(small_pages)
    recorder = Recorder(client)
    frame = client.get("/data/1/QuotationLines", select="id", **options)
    assert recorder.most == 1, why
    assert not any("$orderby=id" in url for url in recorder.urls), why
    assert len(frame) > 0


def test_limit_is_honoured_by_the_windows(small_pages) -> None:
    client = make_client(small_pages)
    recorder = Recorder(client)
    frame = client.get("/data/1/QuotationLines", select="id", limit=1333, concurrency=4)
    rows = small_pages.rows("QuotationLines")[:1333]
    assert frame["id"].tolist() == [r["id"] for r in rows]
    windows = sorted(recorder.windows(), key=lambda w: int(w["$skip"]))  # arrival order varies
    tops = [int(w["$top"]) for w in windows]
    assert sum(tops) + PAGE == 1333 and tops[-1] == 33  # the last window asks for the rest


def test_rows_deleted_during_the_fetch_warn_and_refetch(mutable) -> None:
    client = make_client(mutable)
    client.login()
    keys = [r["id"] for r in mutable.rows("QuotationLines")[:3]]
    calls = []

    def progress(rows: int, total: int | None) -> None:
        calls.append(rows)
        if len(calls) == 10:  # some windows in, most still to come
            for key in keys:
                client.delete(f"/data/1/QuotationLines({key})")

    with pytest.warns(DataChangedWarning, match="changed while it was being fetched") as caught:
        frame = client.get("/data/1/QuotationLines", progress=progress, concurrency=4)
    assert caught[0].filename == __file__  # shown at the caller's line, not inside the library
    rows = mutable.rows("QuotationLines")
    assert frame["id"].tolist() == [r["id"] for r in rows]
    assert not set(keys) & set(frame["id"])


def test_rows_inserted_during_the_fetch_warn_and_refetch(mutable) -> None:
    client = make_client(mutable)
    client.login()
    template = mutable.rows("QuotationLines")[0]
    new = [dict(template, id=f"00000000-0000-4000-8000-00000000000{i}") for i in range(3)]

    def progress(rows: int, total: int | None) -> None:
        if rows == 5 * PAGE and not mutable.rows("QuotationLines")[0]["id"].startswith("0000"):
            client.post("/data/1/QuotationLines/Default.BulkInsert", json={"entities": new})

    with pytest.warns(DataChangedWarning):
        frame = client.get("/data/1/QuotationLines", progress=progress, concurrency=4)
    rows = mutable.rows("QuotationLines")
    assert frame["id"].tolist() == [r["id"] for r in rows]
    assert frame["id"].tolist()[:3] == [r["id"] for r in new]


def test_a_row_moving_in_the_order_is_caught_by_its_key(mutable) -> None:
    client = make_client(mutable)
    client.login()
    rows = mutable.rows("QuotationLines")
    last = max(rows, key=lambda r: (r["lineNumber"], r["id"]))

    def progress(done: int, total: int | None) -> None:
        if done == 20 * PAGE:
            # The last row (not fetched yet) moves to the front: same count, one row twice.
            client.patch(f"/data/1/QuotationLines({last['id']})", json={"lineNumber": -1})

    with pytest.warns(DataChangedWarning, match="twice|missing"):
        frame = client.get(
            "/data/1/QuotationLines", orderby="lineNumber", progress=progress, concurrency=4
        )
    assert frame["id"].iloc[0] == last["id"]
    assert frame["id"].is_unique and len(frame) == len(rows)


def test_no_warning_when_nothing_moves(small_pages) -> None:
    client = make_client(small_pages)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataChangedWarning)
        client.get("/data/1/QuotationLines", select="id", concurrency=4)


@pytest.mark.timing
def test_ctrl_c_from_progress_stops_the_workers_and_the_client_stays_usable(mutable) -> None:
    mutable.configure(latency_ms=30)
    client = make_client(mutable)
    client.login()
    recorder = Recorder(client)

    def progress(rows: int, total: int | None) -> None:
        if rows >= 6 * PAGE:
            raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        client.get("/data/1/QuotationLines", progress=progress, concurrency=4)
    assert time.monotonic() - started < 2
    sent = len(recorder.urls)
    time.sleep(0.3)  # ten latencies: a worker that went on would have sent more by now
    assert len(recorder.urls) == sent
    assert sent < 20  # far from the 100+ pages of the whole set
    frame = client.get("/data/1/QuotationLines", select="id", concurrency=4)
    assert frame["id"].tolist() == [r["id"] for r in mutable.rows("QuotationLines")]


@pytest.mark.timing
def test_ctrl_c_as_a_signal_during_slow_windows(mutable, ctrl_c) -> None:
    mutable.configure(latency_ms=150)
    client = make_client(mutable)
    client.login()
    client.schema()
    recorder = Recorder(client)
    timer = threading.Timer(0.5, ctrl_c)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            client.get("/data/1/QuotationLines", concurrency=4)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 1.5
    sent = len(recorder.urls)
    time.sleep(0.5)  # more than three latencies: in-flight requests end, no new one starts
    assert len(recorder.urls) == sent
    mutable.configure(latency_ms=0)
    assert len(client.get("/data/1/Vats")) == len(mutable.rows("Vats"))


def test_rate_limit_is_shared_by_all_workers(small_pages) -> None:
    client = make_client(small_pages, calls_per_minute=1200)  # one call per 50 ms
    client.login()
    client.schema()
    recorder = Recorder(client)
    frame = client.get("/data/1/Quotations", select="id", concurrency=4)
    pages = -(-len(frame) // PAGE)
    assert len(recorder.windows()) == pages - 1
    gaps = [b - a for a, b in zip(recorder.starts, recorder.starts[1:], strict=False)]
    # The first page, the windows, and the closing count: all spaced by the one limiter.
    assert len(gaps) == pages and min(gaps) >= 0.045


@pytest.mark.timing
def test_query_running_across_token_expiry_completes_concurrently(mutable) -> None:
    mutable.configure(token_ttl=1, latency_ms=150, page_size=10)
    client = make_client(mutable)
    started = time.monotonic()
    frame = client.get("/data/1/Features", concurrency=4)
    assert time.monotonic() - started > 1.0  # the fetch outlived its first token
    assert frame["id"].tolist() == [r["id"] for r in mutable.rows("Features")]
    assert len(mutable.issued_tokens) >= 2


# -- the scripted server: one 429, $skip refused or ignored -----------------------------------

ROWS = [{"id": f"{i:08d}-0000-4000-8000-000000000000", "n": i} for i in range(40)]


def serve_rows(
    server: ScriptedServer, size: int = 5, rows: list[dict] = ROWS, **behaviour: Any
) -> dict[str, Any]:
    """Route /data/1/Things over ROWS in pages of ``size``: $skip/$top/$count, next links with
    a $skiptoken. ``behaviour``: ``throttle_at`` (that $skip answered once with 429 and
    Retry-After: 1), ``refuse_skip`` (400), ``ignore_skip`` (answered from the start),
    ``small_windows`` (3 rows and a next link for a $top of 5).
    Returns a record of request start times and when the 429 went out."""
    seen: dict[str, Any] = {"starts": [], "throttled": None}

    def route(srv: ScriptedServer, handler: Any) -> Any:
        seen["starts"].append(time.monotonic())
        options = dict(parse_qsl(urlsplit(handler.path).query))
        if "$skip" in options and behaviour.get("refuse_skip"):
            return odata_error(400, "The query option '$skip' is not supported.")
        skip = int(options.get("$skip") or options.get("$skiptoken") or 0)
        if "$skip" in options and behaviour.get("ignore_skip"):
            skip = 0
        if skip == behaviour.get("throttle_at") and seen["throttled"] is None:
            seen["throttled"] = time.monotonic()
            return odata_error(429, "Too many requests.", {"Retry-After": "1"})
        top = int(options.get("$top", size))
        if "$top" in options and behaviour.get("small_windows"):
            top = min(top, 3)  # the service's page for $top requests is smaller
        chunk = rows[skip : skip + min(top, size)]
        payload: dict[str, Any] = {"value": chunk}
        if options.get("$count") == "true":
            payload["@odata.count"] = len(rows)
        if behaviour.get("small_windows") and "$top" in options:
            payload["@odata.nextLink"] = f"{srv.url}/data/1/Things?$skiptoken={skip + 3}"
        elif skip + len(chunk) < len(rows) and "$top" not in options:
            token = skip + len(chunk)
            payload["@odata.nextLink"] = f"{srv.url}/data/1/Things?$count=true&$skiptoken={token}"
        return json_reply(payload)

    server.routes["/data/1/Things"] = route
    return seen


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    yield from serving()


def scripted_client(server: ScriptedServer) -> ElfsquadClient:
    from scripted import SECRET

    return ElfsquadClient(
        "scripted-client",
        SECRET,
        login_url=server.url,
        api_url=server.url,
        progress=False,
        retry_seconds=10,
    )


def test_a_429_pauses_every_worker_for_its_retry_after(scripted) -> None:
    seen = serve_rows(scripted, throttle_at=15)
    client = scripted_client(scripted)
    frame = client.get("/data/1/Things", concurrency=4)
    assert frame["n"].tolist() == list(range(40))
    throttled = seen["throttled"]
    assert throttled is not None
    # Requests under way when the 429 came may end; none starts within its Retry-After.
    during = [t for t in seen["starts"] if throttled + 0.02 < t < throttled + 0.95]
    assert during == []
    assert any(t >= throttled + 0.95 for t in seen["starts"])


@pytest.mark.parametrize("behaviour", ["refuse_skip", "ignore_skip", "small_windows"])
def test_skip_refused_or_ignored_falls_back_to_the_links_silently(scripted, behaviour) -> None:
    serve_rows(scripted, **{behaviour: True})
    client = scripted_client(scripted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = client.get("/data/1/Things", concurrency=4)
    assert frame["n"].tolist() == list(range(40))
    assert scripted.hits("/data/1/Things") >= 8 + 1  # the walk after a failed window


def test_keys_that_cannot_be_compared_do_not_stop_the_windows(scripted) -> None:
    rows = [{"id": [i, "x"], "n": i} for i in range(40)]  # a list is no set member
    serve_rows(scripted, rows=rows)
    client = scripted_client(scripted)
    frame = client.get("/data/1/Things", concurrency=4)
    assert frame["n"].tolist() == list(range(40))
    assert frame["id"].tolist()[3] == [3, "x"]


# -- planning ---------------------------------------------------------------------------------


# -- through the magic ------------------------------------------------------------------------


def test_magic_concurrency_option_and_setting_give_the_same_frame(ip, sandbox_env) -> None:
    from IPython.utils.capture import capture_output

    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
    cell = "$orderby=lineNumber desc\n$select=id,lineNumber,unitPrice,createdDate\n"
    windowed = ip.run_cell_magic("elfsquad", "--no-progress GET /data/1/QuotationLines", cell)
    walked = ip.run_cell_magic(
        "elfsquad", "--no-progress --concurrency 1 GET /data/1/QuotationLines", cell
    )
    ip.run_line_magic("config", "ElfsquadMagic.concurrency = 1")
    configured = ip.run_cell_magic("elfsquad", "--no-progress GET /data/1/QuotationLines", cell)
    pd.testing.assert_frame_equal(windowed, walked, check_exact=True)
    pd.testing.assert_frame_equal(configured, walked, check_exact=True)
    assert len(windowed) == len(sandbox_env.rows("QuotationLines"))
    assert windowed.attrs["elfsquad"]["count"] is None  # not asked for, not shown
