"""Benchmark: fetching a whole entity set into a DataFrame, against a local sandbox.

    .venv/bin/python benchmarks/bench_fetch.py --scale 20 --latency-ms 20 --runs 3

Starts ``python -m elfsquad_magic.sandbox`` as its own process (so the server does not share
the client's interpreter and GIL), then runs each contender in a fresh Python process, taking
turns run after run, and reports medians:

- ``%%elfsquad``: the cell magic in a real IPython shell with the extension loaded;
- ``client``: ``ElfsquadClient.get`` from Python;
- ``plain loop``: what a user would write: requests, ``@odata.nextLink``, ``pd.json_normalize``;
- ``floor``: the same concurrent ``$skip`` window downloads with only ``json.loads`` (no
  DataFrame); ``floor (orjson)`` is the same with orjson, the parser the client uses.

Memory is the peak resident set size of the contender's process during the fetch minus its
size just before (``ru_maxrss``), next to the final frame's ``memory_usage(deep=True)``.
The table goes to stdout and to ``benchmarks/results/`` (not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
ENTITY_SET = "QuotationLines"
CONTENDERS = ("magic", "client", "plain", "floor", "floor-orjson")
LABELS = {
    "magic": "`%%elfsquad` (IPython)",
    "client": "`ElfsquadClient.get`",
    "client-c1": "`ElfsquadClient.get`, concurrency 1",
    "client-c4": "`ElfsquadClient.get`, fixed concurrency 4 (the default before the pace)",
    "magic-c4": "`%%elfsquad`, fixed concurrency 4",
    "client-decoded": "`ElfsquadClient.get`, Arrow page reader off (every page decoded)",
    "plain": "plain loop (requests + nextLink + json_normalize)",
    "floor": "floor: concurrent pages, `json.loads` only",
    "floor-orjson": "floor: concurrent pages, `orjson.loads` only",
}


# -- the contenders (each runs in its own process) ----------------------------------------------


def _rss_now() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def _token(url: str, client_id: str, secret: str) -> str:
    import requests

    form = {
        "client_id": client_id,
        "client_secret": secret,
        "grant_type": "client_credentials",
        "scope": "Elfskot.Api",
    }
    return requests.post(f"{url}/oauth2/token", data=form, timeout=30).json()["access_token"]


def run_contender(name: str, url: str, client_id: str, secret: str, concurrency: int) -> dict:
    """Fetch the whole set once the way ``name`` does; wall time, rows, memory."""
    import pandas as pd

    path = f"/data/1/{ENTITY_SET}"
    frame_bytes = None
    if name in ("magic", "magic-c4"):
        if name == "magic-c4":
            concurrency = 4
        from IPython.core.interactiveshell import InteractiveShell

        os.environ.update(
            ELFSQUAD_CLIENT_ID=client_id,
            ELFSQUAD_CLIENT_SECRET=secret,
            ELFSQUAD_LOGIN_URL=url,
            ELFSQUAD_API_URL=url,
        )
        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "elfsquad_magic")
        if concurrency:  # 0: the default, found by itself
            shell.run_line_magic("config", f"ElfsquadMagic.concurrency = {concurrency}")
        shell.run_line_magic("elfsquad_login", "")
        shell.run_line_magic("elfsquad", "GET /data/1/Vats")  # token and $metadata, untimed

        def fetch() -> Any:
            shell.run_cell_magic("elfsquad", f"-o lines GET {path}", "# every line\n")
            return shell.user_ns["lines"]

    elif name in ("client", "client-c1", "client-c4", "client-decoded"):
        from elfsquad_magic import ElfsquadClient

        if name == "client-decoded":
            # The same client with every page decoded by orjson, as before the Arrow reader.
            from elfsquad_magic.fetch.arrow_reader import PageReader

            PageReader.for_records = classmethod(lambda cls, records, edm_types: None)

        client = ElfsquadClient(
            client_id,
            secret,
            login_url=url,
            api_url=url,
            concurrency={"client-c1": 1, "client-c4": 4}.get(name, concurrency or None),
        )
        client.get("/data/1/Vats")  # token and $metadata, untimed

        def fetch() -> Any:
            return client.get(path)

    elif name == "plain":
        import requests

        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {_token(url, client_id, secret)}"

        def fetch() -> Any:
            rows: list[dict] = []
            link: str | None = f"{url}{path}"
            while link:
                response = session.get(link, timeout=60)
                response.raise_for_status()
                data = response.json()
                rows.extend(data["value"])
                link = data.get("@odata.nextLink")
            return pd.json_normalize(rows)

    elif name in ("floor", "floor-orjson"):
        import json
        import threading
        from concurrent.futures import ThreadPoolExecutor

        import orjson
        import requests

        loads = orjson.loads if name == "floor-orjson" else json.loads
        token = _token(url, client_id, secret)
        local = threading.local()

        def get(link: str) -> Any:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
                session.headers["Authorization"] = f"Bearer {token}"
            response = session.get(link, timeout=60)
            response.raise_for_status()
            return loads(response.content)

        def fetch() -> Any:
            first = get(f"{url}{path}?$count=true")
            size, count = len(first["value"]), first["@odata.count"]
            window = f"{url}{path}?$count=true&$orderby=id&$top={size}&$skip="
            with ThreadPoolExecutor(concurrency or 4) as pool:
                pages = list(
                    pool.map(lambda skip: get(f"{window}{skip}"), range(size, count, size))
                )
            return [first, *pages]

    else:
        raise SystemExit(f"unknown contender {name}")

    before = _rss_now()
    cpu_before = time.process_time()
    started = time.perf_counter()
    result = fetch()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    peak = _peak_rss()
    if isinstance(result, pd.DataFrame):
        rows = len(result)
        frame_bytes = int(result.memory_usage(deep=True).sum())
    else:
        rows = sum(len(page["value"]) for page in result)
    return {
        "contender": name,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "rows": rows,
        "peak_rss_delta": max(0, peak - before),
        "frame_bytes": frame_bytes,
    }


# -- the driver --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sandbox(
    scale: int, latency_ms: float, secret: str, extra: list[str] | None = None
) -> tuple[subprocess.Popen, str]:
    """The sandbox in its own process (``extra``: more of its options); returns it and its
    URL once it serves."""
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "elfsquad_magic.sandbox",
            "--scale",
            str(scale),
            "--latency-ms",
            str(latency_ms),
            "--port",
            str(port),
            "--client-secret",
            secret,
            *(extra or []),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    said: list[str] = []
    for line in process.stdout:
        said.append(line)
        if "serving at" in line:
            ready = line.strip()
            break
    else:
        raise SystemExit("the sandbox did not start:\n" + "".join(said[-20:]))
    print(ready, file=sys.stderr)
    return process, f"http://127.0.0.1:{port}"


def run_child(script: str, arguments: list[str], secret: str) -> dict:
    """Run ``script`` with ``arguments`` in a fresh Python process (the secret on stdin, never
    on the command line) and return the JSON it prints last."""
    out = subprocess.run(
        [sys.executable, script, *arguments],
        input=secret,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def turns(names: list[str], runs: int) -> Iterator[tuple[int, str]]:
    """(run number from 1, contender) in the order they take turns: each run starts with
    another contender, so none always goes first."""
    for run in range(runs):
        start = run % len(names)
        for name in names[start:] + names[:start]:
            yield run + 1, name


def measure(name: str, url: str, secret: str, concurrency: int) -> dict:
    """One run of one contender in a fresh process."""
    arguments = ["--contender", name, "--url", url, "--concurrency", str(concurrency)]
    return run_child(__file__, arguments, secret)


def table(results: dict[str, list[dict]], runs: int, args: argparse.Namespace) -> str:
    """The markdown report: medians per contender, ratios to the plain loop and the floor."""
    median = {name: statistics.median(r["seconds"] for r in rs) for name, rs in results.items()}
    rows = {name: rs[0]["rows"] for name, rs in results.items()}
    plain = median.get("plain")
    floor = median.get("floor")
    pace = f"concurrency {args.concurrency}" if args.concurrency else "the pace found by itself"
    lines = [
        f"{ENTITY_SET}, scale {args.scale} ({rows.get('client', rows.get('floor'))} rows), "
        f"sandbox latency {args.latency_ms:g} ms, {pace}; "
        f"median of {runs} runs per contender, contenders alternating. "
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{_versions()}.",
        "",
        "| contender | wall s (median) | rows/s | vs plain loop | vs floor | CPU s | "
        "peak RSS delta MB | frame MB | peak / frame |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, rs in results.items():
        seconds = median[name]
        peak = statistics.median(r["peak_rss_delta"] for r in rs) / 1e6
        cpu = statistics.median(r["cpu_seconds"] for r in rs)
        frame = rs[0]["frame_bytes"]
        frame_mb = f"{frame / 1e6:.1f}" if frame else "-"
        ratio = f"{peak / (frame / 1e6):.2f}x" if frame else "-"
        speedup = f"{plain / seconds:.1f}x" if plain else "-"
        to_floor = f"{seconds / floor:.2f}" if floor else "-"
        lines.append(
            f"| {LABELS.get(name, name)} | {seconds:.2f} | {rows[name] / seconds:,.0f} | "
            f"{speedup} | {to_floor} | {cpu:.2f} | {peak:.0f} | {frame_mb} | {ratio} |"
        )
    every = ", ".join(
        f"{name} " + "/".join(f"{r['seconds']:.2f}" for r in rs) for name, rs in results.items()
    )
    lines += ["", f"Every run (s): {every}."]
    return "\n".join(lines)


def _versions() -> str:
    import numpy
    import orjson
    import pandas
    import pyarrow

    return (
        f"pandas {pandas.__version__}, numpy {numpy.__version__}, orjson {orjson.__version__}, "
        f"pyarrow {pyarrow.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with --contender, one measurement for the driver)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="0 (the default): the pace found by itself; N: N requests in flight",
    )
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"comma-separated, from {', '.join(LABELS)}",
    )
    parser.add_argument("--url", help="use a running sandbox (secret on stdin) instead")
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.contender:
        secret = sys.stdin.read().strip()
        result = run_contender(args.contender, args.url, "demo-client", secret, args.concurrency)
        print(json.dumps(result))
        return 0

    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    secret = secrets.token_urlsafe(24)
    sandbox = None
    if args.url:
        url = args.url.rstrip("/")
        secret = sys.stdin.readline().strip()
    else:
        sandbox, url = start_sandbox(args.scale, args.latency_ms, secret)
    results: dict[str, list[dict]] = {name: [] for name in names}
    try:
        for run, name in turns(names, args.runs):
            result = measure(name, url, secret, args.concurrency)
            results[name].append(result)
            print(
                f"run {run} {name}: {result['seconds']:.2f} s, {result['rows']} rows, "
                f"peak RSS +{result['peak_rss_delta'] / 1e6:.0f} MB",
                file=sys.stderr,
            )
    finally:
        if sandbox is not None:
            sandbox.terminate()
            sandbox.wait(timeout=10)
    counts = {r["rows"] for rs in results.values() for r in rs}
    if len(counts) != 1:
        raise SystemExit(f"contenders disagree on the row count: {sorted(counts)}")
    report = table(results, args.runs, args)
    command = "benchmarks/bench_fetch.py " + " ".join(argv if argv is not None else sys.argv[1:])
    report = f"Command: `.venv/bin/python {command.strip()}`\n\n{report}\n"
    print(report)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"fetch-{stamp}.md").write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
