"""Benchmark: each output type (pandas, polars, Arrow) of a fetch and of the mirror, against the
local read floor of the same file in the same run.

    .venv/bin/python benchmarks/bench_arrow.py --scale 200 --latency-ms 20 --runs 4

Starts ``python -m elfsquad_magic.sandbox`` in its own process (scale 200: about 1.08 million
quotation lines; its start time and peak resident size are reported), makes one mirror of
``QuotationLines`` with a first sync, then runs every contender in a fresh Python process,
taking turns run after run, and reports medians:

- ``get:<output>``: ``ElfsquadClient.get`` of the whole set with ``output=<output>``;
- ``first-sync:<output>``: ``ElfsquadClient.sync`` into an empty mirror folder (written as the
  pages come), to compare with ``get``;
- ``resync:<output>``: ``ElfsquadClient.sync`` of the prepared mirror, nothing changed on the
  service (two requests, then the file is read);
- ``floor:<output>``: ``pyarrow.parquet.read_table`` of the same mirror file plus the conversion
  to that output (``to_pandas()``, nothing, ``polars.from_arrow``); ``floor-system:<output>``:
  the same read into the system allocator (``pyarrow.dataset`` with
  ``memory_pool=pyarrow.system_memory_pool()``), as the mirror reads; ``polars-read-parquet``:
  ``polars.read_parquet`` of the file.

Memory is the peak resident size of the contender's process during the step minus its size just
before, next to the memory the result holds (pandas ``memory_usage(deep=True)``; Arrow and
polars: every buffer referenced, once, see :func:`result_size`). CPU s is the contender
process's CPU time during the step (all its threads), sandbox CPU s the sandbox process's
during the contender's run: together they show whose time a step is. The table goes to stdout
and to ``benchmarks/results/``.

Contenders take turns next to the ones they are compared with, first and last in alternate
runs. The build machine's balloon device reports freed memory to its host (virtio-balloon free
page reporting), and how long ago a large process before a contender ended moves that
contender's time: ``read_table`` + ``to_pandas()`` of the mirror took 0.96-1.09 s right after a
process that had touched 1.3 GB ended, 1.58-1.82 s four seconds later, 2.23-2.83 s twelve
seconds later and 1.26-1.53 s after a small process, the same user CPU each time. Most of that
system time was pyarrow's default pool (mimalloc) faulting in huge pages: into the system
allocator, as the mirror reads (``floor-system``), the slow states took 1.2-1.7 s. In a fixed
cycle a resync always ran after the same contender; adjacent, a resync and its floor meet
nearly the same state, and the run-by-run column shows what remains.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fetch import (  # noqa: E402
    _peak_rss,
    _rss_now,
    _versions,
    run_child,
    start_sandbox,
)

ENTITY_SET = "QuotationLines"
RESULTS = Path(__file__).resolve().parent / "results"
OUTPUTS = ("pandas", "polars", "arrow")
CONTENDERS = (
    *(f"get:{o}" for o in OUTPUTS),
    "first-sync:pandas",
    "first-sync:arrow",
    *(f"resync:{o}" for o in OUTPUTS),
    *(f"floor:{o}" for o in OUTPUTS),
    "floor-system:pandas",
    "floor-system:arrow",
    "polars-read-parquet",
)
# What each contender is compared with: its read floor, or a plain get of the same output.
BASELINES = {
    "resync:pandas": ("floor:pandas", "floor-system:pandas"),
    "resync:polars": ("floor:polars", "polars-read-parquet"),
    "resync:arrow": ("floor:arrow", "floor-system:arrow"),
    "first-sync:pandas": ("get:pandas",),
    "first-sync:arrow": ("get:arrow",),
    "get:polars": ("get:pandas",),
    "get:arrow": ("get:pandas",),
}


def result_size(value: Any) -> tuple[int, int]:
    """Rows and the bytes of memory a pandas frame, a polars frame or an Arrow table holds.

    Arrow and polars: every buffer the result references, whole and once
    (``get_total_buffer_size``; a polars frame exported to Arrow without a copy). polars'
    own ``estimated_size()`` leaves out the Arrow text buffers its string views point into
    (it reported 621 MB for a frame holding 1,122 MB at a million rows)."""
    if hasattr(value, "memory_usage"):
        return len(value), int(value.memory_usage(deep=True).sum())
    if hasattr(value, "estimated_size"):
        import polars

        held = value.to_arrow(compat_level=polars.CompatLevel.newest())
        return value.height, int(held.get_total_buffer_size())
    return value.num_rows, int(value.get_total_buffer_size())


def _client(url: str, secret: str, mirror: str) -> Any:
    from elfsquad_magic import ElfsquadClient

    client = ElfsquadClient(
        "demo-client", secret, login_url=url, api_url=url, progress=False, mirror_dir=mirror
    )
    client.get("/data/1/Vats")  # the token and $metadata, outside the measure
    return client


def paired_turns(names: list[str], runs: int) -> Iterator[tuple[int, str]]:
    """(run number from 1, contender) in the order they take turns: each contender next to
    the ones it is compared with, first and last in turn, so that the two meet nearly the
    same memory state (see the module's notes), the groups in another order each run."""
    groups: list[list[str]] = []
    for name in names:
        related = {name, *BASELINES.get(name, ())}
        related |= {other for other, bases in BASELINES.items() if name in bases}
        joined = [group for group in groups if related & set(group)]
        merged = [member for group in joined for member in group] + [name]
        groups = [group for group in groups if group not in joined] + [merged]
    for run in range(runs):
        start = run % len(groups)
        for group in groups[start:] + groups[:start]:
            for name in reversed(group) if run % 2 else group:
                yield run + 1, name


def run_contender(name: str, url: str, secret: str, mirror: str) -> dict:
    """One measured step the way ``name`` does it; wall time, rows, memory."""
    kind, _, output = name.partition(":")
    if kind in ("get", "first-sync", "resync"):
        if kind == "first-sync":
            mirror = tempfile.mkdtemp(prefix="bench-arrow-")
        client = _client(url, secret, mirror)

        def step() -> Any:
            if kind == "get":
                return client.get(f"/data/1/{ENTITY_SET}", output=output)
            return client.sync(ENTITY_SET, output=output)

    else:
        import pyarrow.parquet as pq

        from elfsquad_magic.store.mirror import Mirror

        path = Mirror(mirror, url, "demo-client").path(ENTITY_SET)

        def step() -> Any:
            if kind == "polars-read-parquet":
                import polars

                return polars.read_parquet(path)
            if kind == "floor-system":
                import pyarrow as pa
                import pyarrow.dataset as ds

                table = ds.dataset(path, format="parquet").to_table(
                    memory_pool=pa.system_memory_pool()
                )
            else:
                table = pq.read_table(path)
            if output == "pandas":
                return table.to_pandas()
            if output == "polars":
                import polars

                return polars.from_arrow(table)
            return table

    with contextlib.suppress(ImportError):  # imported before the clock, for every contender
        import polars  # noqa: F401
    calls_before = client.api_calls if kind in ("get", "first-sync", "resync") else 0
    before = _rss_now()
    cpu_before = time.process_time()
    started = time.perf_counter()
    value = step()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    peak = _peak_rss()
    rows, size = result_size(value)
    calls = client.api_calls - calls_before if kind in ("get", "first-sync", "resync") else 0
    if kind == "first-sync":
        shutil.rmtree(mirror, ignore_errors=True)
    return {
        "contender": name,
        "seconds": seconds,
        "rows": rows,
        "bytes": size,
        "peak_rss_delta": max(0, peak - before),
        "calls": calls,
        "cpu": cpu,
    }


def _cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (children, their children...)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{parent}/task").iterdir():
                kids = [int(k) for k in (task / "children").read_text().split()]
                found += kids
                todo += kids
    return found


class StartMemory:
    """The largest resident size of this process's descendants together, sampled every
    0.2 s while the sandbox starts: the sandbox and the child making its seed, whose peak
    the sandbox's own VmHWM leaves out."""

    def __init__(self) -> None:
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> StartMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._done.wait(0.2):
            total = 0
            for pid in _descendants(os.getpid()):
                with contextlib.suppress(OSError, IndexError, ValueError):
                    total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
            self.peak = max(self.peak, total)


def _sandbox_memory(pid: int) -> int:
    """The sandbox process's peak resident size (VmHWM), bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _paired(runs: list[dict], baselines: list[dict], baseline: str) -> str:
    """The median and range of each run's time over its baseline's in the same turn: the
    machine's slow and fast spells (a read of the same file in 0.7 or 1.7 s from one process
    to the next) then fall on both sides of a ratio instead of on one median."""
    ratios = sorted(r["seconds"] / b["seconds"] for r, b in zip(runs, baselines, strict=False))
    if not ratios:
        return "-"
    return f"{statistics.median(ratios):.2f}x {baseline} ({ratios[0]:.2f}-{ratios[-1]:.2f})"


def table(results: dict[str, list[dict]], runs: int, header: str) -> str:
    """Medians per contender, each set against its floor and against ``get``."""
    median = {n: statistics.median(r["seconds"] for r in rs) for n, rs in results.items()}
    lines = [
        header,
        "",
        "| contender | wall s (median) | rows/s | time vs baseline | run by run "
        "| peak RSS delta MB | result MB | peak / result | CPU s | CPU µs/row | sandbox CPU s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, rs in results.items():
        against = [f for f in BASELINES.get(name, ()) if f in median]
        ratio = ", ".join(f"{median[name] / median[f]:.2f}x {f}" for f in against) or "-"
        paired = "; ".join(_paired(rs, results[f], f) for f in against) or "-"
        peak = statistics.median(r["peak_rss_delta"] for r in rs)
        size = rs[0]["bytes"]
        cpu = statistics.median(r["cpu"] for r in rs)
        served = statistics.median(r.get("sandbox_cpu", 0.0) for r in rs)
        lines.append(
            f"| {name} | {median[name]:.2f} | {rs[0]['rows'] / median[name]:,.0f} | {ratio} "
            f"| {paired} | {peak / 1e6:,.0f} | {size / 1e6:,.0f} | {peak / size:.2f}x "
            f"| {cpu:.2f} | {cpu / rs[0]['rows'] * 1e6:.1f} | {served:.2f} |"
        )
    every = "; ".join(
        f"{n} " + "/".join(f"{r['seconds']:.2f}" for r in rs) for n, rs in results.items()
    )
    return "\n".join([*lines, "", f"Every run (s): {every}."])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with --contender, one measurement for the driver)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--runs", type=int, default=4)  # even: each of a pair first as often
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--mirror", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.contender:
        secret = sys.stdin.read().strip()
        print(json.dumps(run_contender(args.contender, args.url, secret, args.mirror)))
        return 0

    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    secret = secrets.token_urlsafe(24)
    started = time.perf_counter()
    with StartMemory() as starting:
        sandbox, url = start_sandbox(args.scale, args.latency_ms, secret)
    start_seconds = time.perf_counter() - started
    results: dict[str, list[dict]] = {name: [] for name in names}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-arrow-") as mirror:
            base = ["--url", url, "--mirror", mirror]
            prepared = run_child(__file__, ["--contender", "first-sync:arrow", *base], secret)
            # That first sync went to a folder of its own: sync this one once, untimed.
            run_child(__file__, ["--contender", "resync:arrow", *base], secret)
            print(f"prepared: {prepared['rows']:,} rows", file=sys.stderr)
            for run, name in paired_turns(names, args.runs):
                served_before = _cpu_seconds(sandbox.pid)
                result = run_child(__file__, ["--contender", name, *base], secret)
                # The sandbox's share, the contender's login and first small read included.
                result["sandbox_cpu"] = _cpu_seconds(sandbox.pid) - served_before
                results[name].append(result)
                print(
                    f"run {run} {name}: {result['seconds']:.2f} s, {result['rows']:,} rows, "
                    f"{result['calls']} calls, peak +{result['peak_rss_delta'] / 1e6:.0f} MB",
                    file=sys.stderr,
                )
        sandbox_peak = max(_sandbox_memory(sandbox.pid), starting.peak)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    counts = {r["rows"] for rs in results.values() for r in rs}
    if len(counts) != 1:
        raise SystemExit(f"contenders disagree on the row count: {sorted(counts)}")
    header = (
        f"{ENTITY_SET}, scale {args.scale} ({counts.pop():,} rows), sandbox latency "
        f"{args.latency_ms:g} ms, started in {start_seconds:.1f} s, its peak resident size (with "
        f"its seed generator while starting) "
        f"{sandbox_peak / 1e9:.2f} GB; median of {args.runs} runs, each contender next to "
        "its baselines, first and last in turn. "
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {_versions()}, "
        f"polars {_polars_version()}."
    )
    command = "benchmarks/bench_arrow.py " + " ".join(argv if argv is not None else sys.argv[1:])
    body = table(results, args.runs, header)
    report = f"Command: `.venv/bin/python {command.strip()}`\n\n{body}"
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"arrow-{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(report + "\n")
    return 0


def _polars_version() -> str:
    try:
        import polars
    except ImportError:
        return "not installed"
    return polars.__version__


if __name__ == "__main__":
    raise SystemExit(main())
