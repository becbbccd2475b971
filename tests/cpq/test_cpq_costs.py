"""What the views cost and where they read: a second run costs two requests per set (the
changed rows and the count), offline reads the mirror without a login, --show-sql's queries
give the same frame in %%elfsquad_sql's engine, and the pipeline chart."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from clients import make_client
from cpq_expected import latest_quotations

from elfsquad_magic.client import ElfsquadClient
from elfsquad_magic.cpq.charts import pipeline_table
from elfsquad_magic.errors import MirrorError, UsageError

CALLS = {
    "model": lambda cpq: cpq.model("Carbon 190"),
    "features": lambda cpq: cpq.features(language="nl"),
    "quotations": lambda cpq: cpq.quotations(currency="EUR"),
    "quotation_lines": lambda cpq: cpq.quotation_lines(100000),
    "custom_fields": lambda cpq: cpq.custom_fields("CrmAccounts"),
    "bom": lambda cpq: cpq.bom("CFG-000001"),
    "dealer_prices": lambda cpq: cpq.dealer_prices(),
}
OFFLINE = [name for name in CALLS if name != "bom"]


@pytest.fixture(scope="module")
def synced(sandbox, tmp_path_factory):
    """A client whose mirror holds every set the views read (each view run once)."""
    client = make_client(sandbox, mirror_dir=tmp_path_factory.mktemp("cpq-costs"))
    first = {name: call(client.cpq) for name, call in CALLS.items()}
    yield client, first
    client.close()


@pytest.mark.parametrize("name", list(CALLS))
def test_a_second_run_costs_two_requests_per_set(synced, name) -> None:
    client, first = synced
    before = client.api_calls
    again = CALLS[name](client.cpq)
    view = again.attrs["elfsquad"]["view"]
    # Each set: its changed rows and its count; the bom also opens its configuration.
    expected = 2 * len(view["sets"]) + (1 if name == "bom" else 0)
    assert view["requests"] == client.api_calls - before == expected
    assert len(view["sets"]) >= 1
    pd.testing.assert_frame_equal(again, first[name])


@pytest.mark.parametrize("name", OFFLINE)
def test_offline_after_a_sync_reads_the_mirror_without_a_login(synced, sandbox, name) -> None:
    client, first = synced
    offline = ElfsquadClient(
        sandbox.client_id, api_url=sandbox.api_url, mirror_dir=client.storage.mirror_dir
    )
    assert not offline.logged_in
    call = CALLS[name]
    frame = call(_Offline(offline.cpq))
    assert frame.attrs["elfsquad"]["view"]["requests"] == 0 == offline.api_calls
    pd.testing.assert_frame_equal(frame, first[name])


class _Offline:
    """The views of a client, each asked for with ``offline=True``."""

    def __init__(self, views) -> None:
        self.views = views

    def __getattr__(self, name: str):
        method = getattr(self.views, name)
        return lambda *args, **kw: method(*args, offline=True, **kw)


def test_offline_without_a_mirror_says_to_sync_first(sandbox, tmp_path) -> None:
    client = ElfsquadClient(sandbox.client_id, api_url=sandbox.api_url, mirror_dir=tmp_path)
    with pytest.raises(MirrorError, match="Sync it once while online"):
        client.cpq.quotations(offline=True)


def test_the_printed_queries_run_as_they_are(synced) -> None:
    client, first = synced
    for name in ("model", "quotations", "features"):
        frame = first[name]
        queries = client.cpq.sql(frame).split(";\n\n")
        last = queries[-1].rstrip(";")
        again = client.sql(last)
        assert (
            again["id" if "id" in again else "nodeId"].tolist()
            == frame["id" if "id" in frame else "nodeId"].tolist()
        )
    steps = client.cpq.explain(first["bom"])
    assert "request: GET /configurator/3/configurator/open/" in steps
    assert steps.splitlines()[0] == "The view bom:"


def test_the_pipeline_table_counts_the_quotations_per_month_and_status(cpq_client, raw) -> None:
    frame = cpq_client.cpq.quotations()
    table, label = pipeline_table(frame)
    assert label == "quotations" and table.to_numpy().sum() == len(latest_quotations(raw))
    months = pd.to_datetime(frame["createdDate"]).dt.tz_localize(None).dt.to_period("M")
    first = months.min().to_timestamp()
    assert table.index[0] == first and table.index.is_monotonic_increasing
    assert len(table) == (months.max() - months.min()).n + 1  # empty months are zeros
    with pytest.raises(UsageError, match="currencies"):
        pipeline_table(frame, "value")
    euros, label = pipeline_table(cpq_client.cpq.quotations(currency="EUR"), "value")
    assert label == "value (EUR, excl. VAT)"


def test_the_chart_draws_bars_and_needs_matplotlib(cpq_client, monkeypatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    frame = cpq_client.cpq.quotations()
    ax = cpq_client.cpq.pipeline_chart(frame)
    assert len(ax.patches) == pipeline_table(frame)[0].size
    import matplotlib.pyplot as plt

    plt.close(ax.figure)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(UsageError, match="needs matplotlib") as caught:
        cpq_client.cpq.pipeline_chart(frame)
    assert "elfsquad-magic[lab]" in caught.value.hint


def test_without_duckdb_a_view_names_the_extra_before_any_request(cpq_client, monkeypatch) -> None:
    before = cpq_client.api_calls
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(UsageError, match="needs DuckDB") as caught:
        cpq_client.cpq.model("Carbon 190")
    assert "elfsquad-magic[sql]" in caught.value.hint
    assert cpq_client.api_calls == before
