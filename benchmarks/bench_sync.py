"""Benchmark: an incremental resync of the mirror against a full fetch, in requests and seconds.

    .venv/bin/python benchmarks/bench_sync.py --scale 20 --latency-ms 20

Starts ``python -m elfsquad_magic.sandbox`` in its own process (scale 20: about 110,000
quotation lines, 500-row pages), syncs ``QuotationLines`` once in full, then for each scenario
writes ``changes`` updates and ``deletions`` deletions over HTTP, resyncs, and fetches the whole
set with ``ElfsquadClient.get`` in the same run as the baseline. Every resync is checked equal
to that full fetch (values, dtypes, order). Requests are the API calls the client sent
(``ElfsquadClient.api_calls``, retries included). The scenarios run in order against one
mirror, so each resync also reads again the rows earlier scenarios changed within the
look-back window (5 minutes): the figures include that cost. The table goes to stdout and to
``benchmarks/results/`` (not committed).
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fetch import RESULTS, _versions, start_sandbox  # noqa: E402

from elfsquad_magic.client import ElfsquadClient  # noqa: E402

ENTITY_SET = "QuotationLines"
SCENARIOS = [(0, 0), (10, 0), (0, 10), (10, 10), (1000, 0), (1000, 10)]


def write_changes(client: ElfsquadClient, keys: list[str], changes: int, deletions: int) -> None:
    """``changes`` PATCHes and ``deletions`` DELETEs of random lines, 8 at a time."""
    pick = random.Random(changes * 7919 + deletions)
    chosen = pick.sample(keys, changes + deletions)
    updated, deleted = chosen[:changes], chosen[changes:]

    def patch(key: str) -> None:
        client.patch(f"/data/1/{ENTITY_SET}({key})", json={"quantity": pick.randint(1, 50)})

    def delete(key: str) -> None:
        client.delete(f"/data/1/{ENTITY_SET}({key})")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(patch, updated))
        list(pool.map(delete, deleted))
    for key in deleted:
        keys.remove(key)


def timed(client: ElfsquadClient, action) -> tuple[pd.DataFrame, int, float]:
    calls = client.api_calls
    started = time.perf_counter()
    frame = action()
    return frame, client.api_calls - calls, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--rate-limit", type=float, help="the sandbox's calls per second")
    parser.add_argument("--runs", type=int, default=1, help="full fetches per scenario")
    args = parser.parse_args(argv)
    secret = secrets.token_urlsafe(24)
    extra = ["--rate-limit", str(args.rate_limit)] if args.rate_limit else []
    process, url = start_sandbox(args.scale, args.latency_ms, secret, extra)
    rows_out = []
    try:
        with tempfile.TemporaryDirectory() as mirror:
            client = ElfsquadClient(
                "demo-client", secret, login_url=url, api_url=url, progress=False, mirror_dir=mirror
            )
            client.login()
            first, first_calls, first_seconds = timed(client, lambda: client.sync(ENTITY_SET))
            keys = list(first["id"])
            print(
                f"first sync: {len(first):,} rows, {first_calls} requests, {first_seconds:.2f} s",
                file=sys.stderr,
            )
            for changes, deletions in SCENARIOS:
                write_changes(client, keys, changes, deletions)
                synced, calls, seconds = timed(client, lambda: client.sync(ENTITY_SET))
                report = client.last_sync
                fulls = [
                    timed(client, lambda: client.get(f"/data/1/{ENTITY_SET}"))
                    for _ in range(args.runs)
                ]
                full = fulls[-1][0]
                pd.testing.assert_frame_equal(synced, full, check_exact=True)
                full_calls = fulls[-1][1]
                full_seconds = statistics.median(f[2] for f in fulls)
                rows_out.append(
                    f"| {changes:,} | {deletions} | {len(synced):,} | {calls} | {seconds:.2f} s "
                    f"| {full_calls} | {full_seconds:.2f} s | {full_seconds / seconds:.1f}x "
                    f"| {report.changed}/{report.new}/{report.deleted} |"
                )
                print(rows_out[-1], file=sys.stderr)
    finally:
        process.terminate()
        process.wait()
    lines = [
        f"Scale {args.scale}, {args.latency_ms:g} ms per request"
        + (f", {args.rate_limit:g} calls/s" if args.rate_limit else "")
        + f", {ENTITY_SET}; "
        f"first sync (a full fetch): {first_calls} requests, {first_seconds:.2f} s.",
        "",
        "| changes | deletions | rows | resync requests | resync | full fetch requests "
        "| full fetch | full / resync | changed/new/deleted found |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        *rows_out,
        "",
        _versions(),
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"sync-{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
