"""Benchmark: does the default find each service's pace? Against sandbox service profiles.

    .venv/bin/python benchmarks/bench_pace.py --runs 3

For each profile a sandbox runs in its own process (QuotationLines at scale 5: about 34,000
rows in 250-row pages); each contender runs in a fresh Python process, contenders taking turns
run after run. A contender fetches the whole set twice in one session and the second fetch is
measured (the pace a session has found is what a notebook's later cells get); the first
fetch, at a pace found from a cold start, is reported next to it:

- ``default``: ``ElfsquadClient.get`` with the concurrency found by itself, in a new kernel
  that starts from what earlier sessions kept of this service's pace (each profile begins with
  one untimed learning session; the pace files live in a folder of the benchmark's own);
- ``default-cold``: the same with nothing kept (an empty pace folder): a first session ever;
- ``c1``, ``c4``, ``c8``, ``c16``: fixed concurrency;
- ``plain``: requests + ``@odata.nextLink`` + ``pd.json_normalize``, waiting out a 429's
  ``Retry-After`` as a careful user's loop would.

Reported: the median wall time of the second fetch, the speed-up over the plain loop, the ratio
to the best fixed concurrency, 429s per (second) fetch, and the concurrency reached. On the
rate-limited profile the ratio to the rate floor (pages / rate) is given too.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_fetch import _free_port, run_child, turns  # the same directory: run as a script

from elfsquad_magic.fetch.pace_memory import ENV_PACE_DIR

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
ENTITY_SET = "QuotationLines"
SCALE = 5
PAGE_SIZE = 250
PROFILES = {
    "20 ms": {"latency_ms": 20},
    "150 ms": {"latency_ms": 150},
    "100 ms, capacity 6": {"latency_ms": 100, "max_concurrent": 6},
    "30 ms, 20 calls/s": {"latency_ms": 30, "rate_limit": 20},
}
CONTENDERS = ("default", "default-cold", "c1", "c4", "c8", "c16", "plain")


# -- one contender, in its own process ------------------------------------------------------


def _plain_fetch(url: str, token: str) -> tuple[int, int]:
    import pandas as pd
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    link, frames, throttled = f"{url}/data/1/{ENTITY_SET}", [], 0
    while link:
        answer = session.get(link, timeout=60)
        if answer.status_code == 429:
            throttled += 1
            time.sleep(float(answer.headers.get("Retry-After", "1")))
            continue
        answer.raise_for_status()
        doc = answer.json()
        frames.append(pd.json_normalize(doc["value"]))
        link = doc.get("@odata.nextLink")
    return len(pd.concat(frames, ignore_index=True)), throttled


def run_contender(name: str, url: str, secret: str) -> dict:
    """Two fetches in one session; the second one's time, rows, 429s and pace."""
    if name == "plain":
        import requests

        form = {
            "client_id": "demo-client",
            "client_secret": secret,
            "grant_type": "client_credentials",
            "scope": "Elfskot.Api",
        }
        token = requests.post(f"{url}/oauth2/token", data=form, timeout=30).json()
        started = time.perf_counter()
        _, first_throttled = _plain_fetch(url, token["access_token"])
        first_seconds = time.perf_counter() - started
        started = time.perf_counter()
        rows, throttled = _plain_fetch(url, token["access_token"])
        return {
            "seconds": time.perf_counter() - started,
            "rows": rows,
            "throttled": throttled,
            "first_seconds": first_seconds,
            "first_throttled": first_throttled,
        }
    from elfsquad_magic import ElfsquadClient

    if name == "default-cold":
        os.environ[ENV_PACE_DIR] = tempfile.mkdtemp(prefix="bench-pace-cold-")
    concurrency = None if name.startswith("default") else int(name[1:])
    client = ElfsquadClient(
        "demo-client",
        secret,
        login_url=url,
        api_url=url,
        concurrency=concurrency,
        progress=False,
        retry_seconds=300,
    )
    client.get("/data/1/Vats")  # the token and $metadata, as a notebook's earlier cell would
    started = time.perf_counter()
    first = client.get(f"/data/1/{ENTITY_SET}")
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    frame = client.get(f"/data/1/{ENTITY_SET}")
    seconds = time.perf_counter() - started
    pace = frame.attrs["elfsquad"]["pace"]
    return {
        "first_seconds": first_seconds,
        "first_throttled": first.attrs["elfsquad"]["pace"]["throttled"],
        "seconds": seconds,
        "rows": len(frame),
        "throttled": pace["throttled"],
        "reached": pace["max_concurrency_reached"],
        "rate": pace["rate_per_second"],
    }


# -- the driver -------------------------------------------------------------------------------


def start_sandbox(profile: dict, secret: str) -> tuple[subprocess.Popen, str]:
    """The sandbox with ``profile`` in its own process; returns it and its URL."""
    port = _free_port()
    command = [sys.executable, "-m", "elfsquad_magic.sandbox", "--port", str(port)]
    command += ["--scale", str(SCALE), "--page-size", str(PAGE_SIZE), "--client-secret", secret]
    for option, value in profile.items():
        command += [f"--{option.replace('_', '-')}", str(value)]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "serving at" in line:
            break
    else:
        raise SystemExit("the sandbox did not start")
    return process, f"http://127.0.0.1:{port}"


def measure(name: str, url: str, secret: str) -> dict:
    """One run of one contender in a fresh process."""
    return run_child(__file__, ["--contender", name, "--url", url], secret)


def profile_table(name: str, profile: dict, results: dict[str, list[dict]]) -> list[str]:
    """The Markdown rows of one profile."""
    median = {c: statistics.median(r["seconds"] for r in runs) for c, runs in results.items()}
    fixed = [c for c in results if c.startswith("c")]
    best = min(fixed, key=median.__getitem__)
    pages = -(-results["default"][0]["rows"] // PAGE_SIZE)
    floor = pages / profile["rate_limit"] if "rate_limit" in profile else None
    lines = []
    for contender, runs in results.items():
        seconds = median[contender]
        first = statistics.median(r["first_seconds"] for r in runs)
        throttled = statistics.median(r["throttled"] for r in runs)
        first_throttled = statistics.median(r["first_throttled"] for r in runs)
        reached = "-" if contender == "plain" else str(max(r.get("reached", 1) for r in runs))
        vs_floor = f"{seconds / floor:.2f}" if floor else "-"
        lines.append(
            f"| {name} | {contender} | {seconds:.2f} | {median['plain'] / seconds:.1f}x | "
            f"{seconds / median[best]:.2f} (best: {best}) | {vs_floor} | {throttled:g} | "
            f"{reached} | {first:.2f} | {first_throttled:g} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run every profile and print the table (Markdown)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profiles", default=";".join(PROFILES), help="names, ;-separated")
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help="comma-separated; plain and at least one fixed concurrency are needed",
    )
    parser.add_argument("--contender")
    parser.add_argument("--url")
    args = parser.parse_args(argv)
    if args.contender:
        print(json.dumps(run_contender(args.contender, args.url, sys.stdin.read().strip())))
        return 0
    lines = [
        "| profile | contender | wall s (2nd fetch, median) | vs plain loop | vs best fixed |"
        " vs rate floor | 429s per fetch | concurrency reached | 1st fetch s | 1st fetch 429s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    chosen = [c.strip() for c in args.contenders.split(",") if c.strip()]
    for name in args.profiles.split(";"):
        profile = PROFILES[name]
        secret = secrets.token_urlsafe(16)
        process, url = start_sandbox(profile, secret)
        # The kept pace of this profile's sessions only, learned once before the runs.
        os.environ[ENV_PACE_DIR] = tempfile.mkdtemp(prefix="bench-pace-")
        try:
            measure("default", url, secret)
            results: dict[str, list[dict]] = {c: [] for c in chosen}
            for run, contender in turns(chosen, args.runs):
                result = measure(contender, url, secret)
                results[contender].append(result)
                print(
                    f"{name} run {run} {contender}: {result['seconds']:.2f} s, "
                    f"{result['throttled']} x 429 (first fetch {result['first_seconds']:.2f}"
                    f" s, {result['first_throttled']} x 429)",
                    file=sys.stderr,
                )
            lines += profile_table(name, profile, results)
        finally:
            process.terminate()
            process.wait(timeout=10)
    given = " ".join(argv if argv is not None else sys.argv[1:])
    text = f"Command: `.venv/bin/python benchmarks/bench_pace.py {given}`\n\n"
    text += "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"pace-{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
