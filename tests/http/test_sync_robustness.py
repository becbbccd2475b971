"""The mirror under random change sequences, a sync killed at random moments, and two
processes syncing one set at once."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from clients import make_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elfsquad_magic.sandbox import Sandbox

SET = "Features"

change = st.one_of(
    st.tuples(st.just("update"), st.integers(0, 10_000), st.integers(1, 4)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.integers(1, 3)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 4)),
    st.tuples(st.just("late"), st.integers(0, 10_000), st.integers(1, 2)),
    st.tuples(st.just("sync"), st.just(0), st.just(0)),
)


def apply(client, sb: Sandbox, kind: str, seed: int, how_many: int) -> None:
    rows = sb.rows(SET)
    pick = random.Random(seed)
    chosen = pick.sample(rows, min(how_many, len(rows)))
    for row in chosen:
        path = f"/data/1/{SET}({row['id']})"
        if kind == "update":
            client.patch(path, json={"salesPrice": pick.randint(1, 10_000) / 4})
        elif kind == "delete":
            client.delete(path)
        elif kind == "late":
            sb.commit_late(SET, row["id"], {"name": f"late {seed}"}, seconds_ago=30)
        elif kind == "insert":
            body = {k: v for k, v in row.items() if k not in ("id", "createdDate", "updatedDate")}
            client.post(f"/data/1/{SET}", json={**body, "name": f"new {seed}"})


@pytest.fixture(scope="module")
def small_sandbox():
    # Small pages, so the deletion search has ranges to bisect.
    with Sandbox(scale=1, seed=11, page_size=20) as sb:
        yield sb


@pytest.mark.slow
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(change, min_size=1, max_size=8))
def test_after_every_sync_the_mirror_equals_a_full_fetch(
    small_sandbox: Sandbox, tmp_path_factory, steps
) -> None:
    sb = small_sandbox
    client = make_client(sb, mirror_dir=tmp_path_factory.mktemp("mirror"))
    client.login()
    client.sync(SET)
    for kind, seed, how_many in [*steps, ("sync", 0, 0)]:
        if kind == "sync":
            mirrored = client.sync(SET)
            full = client.get(f"/data/1/{SET}")
            pd.testing.assert_frame_equal(mirrored, full, check_exact=True)
        else:
            apply(client, sb, kind, seed, how_many)


CHILD = textwrap.dedent(
    """
    import json, sys
    from elfsquad_magic.client import ElfsquadClient
    settings = json.loads(sys.argv[1])
    client = ElfsquadClient(
        settings["client_id"], settings["secret"], login_url=settings["url"],
        api_url=settings["url"], progress=False, mirror_dir=settings["mirror"],
    )
    client.login()
    for _ in range(settings["rounds"]):
        client.sync(settings["set"], full=settings["full"])
        print(client.last_sync, flush=True)
    """
)


def child(sb: Sandbox, mirror: Path, *, full: bool, rounds: int = 1) -> subprocess.Popen:
    settings_ = {
        "client_id": sb.client_id,
        "secret": sb.client_secret,
        "url": sb.url,
        "mirror": str(mirror),
        "set": "QuotationLines",
        "full": full,
        "rounds": rounds,
    }
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(settings_)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_a_sync_killed_at_any_moment_leaves_the_old_mirror_or_the_new(tmp_path) -> None:
    with Sandbox(scale=2, seed=5, page_size=100, latency_ms=2) as sb:
        client = make_client(sb, mirror_dir=tmp_path)
        client.login()
        old = client.sync("QuotationLines")
        for row in sb.rows("QuotationLines")[:20]:
            client.patch(f"/data/1/QuotationLines({row['id']})", json={"quantity": 42})
        new = client.get("/data/1/QuotationLines")
        pick = random.Random(1)
        seen = {"old": 0, "new": 0}
        for _ in range(6):
            process = child(sb, tmp_path, full=True)
            time.sleep(pick.uniform(0.2, 2.5))  # start-up, then somewhere in the sync
            process.kill()
            process.wait()
            state = client.sync("QuotationLines", offline=True)  # readable, whole
            if state.equals(old):
                seen["old"] += 1
            else:
                pd.testing.assert_frame_equal(state, new, check_exact=True)
                seen["new"] += 1
        assert seen["old"] >= 1, seen  # some kills did land mid-sync
        pd.testing.assert_frame_equal(client.sync("QuotationLines"), new, check_exact=True)
        assert not list(tmp_path.rglob("*.tmp"))  # leftovers of killed syncs are cleared


@pytest.mark.slow
def test_two_processes_syncing_one_set_both_succeed(tmp_path) -> None:
    with Sandbox(scale=1, seed=9, page_size=100, latency_ms=2) as sb:
        client = make_client(sb, mirror_dir=tmp_path)
        client.login()
        client.sync("QuotationLines")
        for row in sb.rows("QuotationLines")[:10]:
            client.patch(f"/data/1/QuotationLines({row['id']})", json={"quantity": 8})
        processes = [child(sb, tmp_path, full=False, rounds=3) for _ in range(2)]
        for process in processes:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
            assert out.count("QuotationLines:") == 3
        pd.testing.assert_frame_equal(
            client.sync("QuotationLines", offline=True),
            client.get("/data/1/QuotationLines"),
            check_exact=True,
        )


@pytest.mark.slow
def test_a_first_sync_killed_while_its_file_is_written_leaves_the_old_mirror(tmp_path) -> None:
    # The first sync writes the new file as the pages come; killed in between, at several
    # moments after that file appeared, the mirror is the old one (or the new, complete).
    with Sandbox(scale=2, seed=5, page_size=100, latency_ms=2) as sb:
        client = make_client(sb, mirror_dir=tmp_path)
        client.login()
        old = client.sync("QuotationLines")
        for row in sb.rows("QuotationLines")[:5]:
            client.patch(f"/data/1/QuotationLines({row['id']})", json={"quantity": 7})
        new = client.get("/data/1/QuotationLines")
        mid_stream = 0
        for delay in (0.0, 0.05, 0.15, 0.3):
            process = child(sb, tmp_path, full=True)
            deadline = time.monotonic() + 60
            while not list(tmp_path.rglob(".QuotationLines.parquet.*.tmp")):
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.005)
            time.sleep(delay)
            mid_stream += process.poll() is None
            process.kill()
            process.wait()
            state = client.sync("QuotationLines", offline=True)
            if not state.equals(old):
                pd.testing.assert_frame_equal(state, new, check_exact=True)
        assert mid_stream >= 2  # most kills landed while the new file was being written
        pd.testing.assert_frame_equal(client.sync("QuotationLines"), new, check_exact=True)
        assert not list(tmp_path.rglob("*.tmp"))
