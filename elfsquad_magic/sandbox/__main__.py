"""``python -m elfsquad_magic.sandbox`` / ``elfsquad-sandbox``: serve the sandbox until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from .app import Sandbox
from .seed_cache import cached_seed
from .tenants import TenantSpec


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    p = argparse.ArgumentParser(
        prog="elfsquad-sandbox",
        description="Serve a local Elfsquad stand-in (token endpoint + OData v4 Data API).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (0 = any free port)")
    p.add_argument("--scale", type=int, default=1, help="row-count multiplier (20 = 100k+ lines)")
    p.add_argument("--seed", type=int, default=42, help="seed of the synthetic tenant")
    p.add_argument("--page-size", type=int, default=500, help="rows per page (default 500)")
    p.add_argument("--latency-ms", type=float, default=0, help="delay added to API requests")
    p.add_argument("--token-ttl", type=int, default=3600, help="token lifetime in seconds")
    p.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        help="server capacity: API requests served at once; the others wait in a queue",
    )
    p.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        help="calls per second allowed to each tenant's client (a token bucket each); excess "
        "answered 429 with Retry-After",
    )
    p.add_argument("--fault-rate", type=float, default=0.0, help="share of API requests failed")
    p.add_argument("--fault-seed", type=int, default=0, help="seed of the fault sequence")
    p.add_argument(
        "--retry-after", type=float, default=1.0, help="seconds a 429 asks to wait (default 1)"
    )
    p.add_argument("--db", default=None, help="SQLite file to keep data in (default: memory)")
    p.add_argument("--client-id", default="demo-client")
    p.add_argument("--client-secret", default="demo-secret")
    p.add_argument(
        "--scim-token", default="demo-scim-token", help="the bearer token /scim/2/ accepts"
    )
    p.add_argument(
        "--tenant",
        action="append",
        default=[],
        metavar="NAME[:SEED]",
        type=tenant_option,
        help="one more tenant on the same host (client NAME-client, secret NAME-secret, SCIM "
        "token NAME-scim-token; SEED defaults to --seed); repeat for more",
    )
    p.add_argument("--verbose", action="store_true", help="log every request")
    return p


def tenant_option(text: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME:SEED`` of ``--tenant``."""
    name, _, seed = text.partition(":")
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise argparse.ArgumentTypeError(f"{text!r}: a tenant's name is letters, digits, - or _")
    try:
        return name, int(seed) if seed else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the seed after ':' is a number") from None


def sandbox_from(args: argparse.Namespace) -> Sandbox:
    """The sandbox the options describe (not started)."""
    return Sandbox(
        scale=args.scale,
        seed=args.seed,
        host=args.host,
        port=args.port,
        page_size=args.page_size,
        latency_ms=args.latency_ms,
        token_ttl=args.token_ttl,
        fault_rate=args.fault_rate,
        fault_seed=args.fault_seed,
        retry_after=args.retry_after,
        max_concurrent=args.max_concurrent,
        rate_limit=args.rate_limit,
        db=args.db,
        client_id=args.client_id,
        client_secret=args.client_secret,
        scim_token=args.scim_token,
        tenants=[
            TenantSpec(
                name,
                f"{name}-client",
                f"{name}-secret",
                f"{name}-scim-token",
                args.scale,
                args.seed if seed is None else seed,
            )
            for name, seed in args.tenant
        ],
        verbose=args.verbose,
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Start the sandbox, print its address and demo credentials, serve until interrupted."""
    args = build_parser().parse_args(argv)
    # A terminated sandbox (a benchmark's, a service manager's) cleans up as on Ctrl-C: a
    # large tenant's temporary file is removed, not left behind.
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.perf_counter()
    try:
        sandbox = sandbox_from(args)
        sandbox.start()
    except (OSError, ValueError) as exc:
        print(f"Cannot start the sandbox on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130  # stopped while seeding: the tenant's file went with it
    elapsed = time.perf_counter() - started
    # A local demo server: printing its own demo credentials is the point.
    print(f"Elfsquad sandbox serving at {sandbox.url} (ready in {elapsed:.1f}s)")
    print(f"  token endpoint : {sandbox.url}/oauth2/token")
    print(f"  Data API       : {sandbox.url}/data/1/")
    print(f"  Quotation API  : {sandbox.url}/quotation/1/")
    print(f"  Configurator   : {sandbox.url}/configurator/3/configurator/")
    print(f"  client id      : {sandbox.client_id}")
    print(f"  client secret  : {sandbox.client_secret}")
    print(f"  SCIM API       : {sandbox.url}/scim/2/Users (token {sandbox.scim_token})")
    for spec in sandbox.tenants[1:]:
        print(f"  tenant {spec.name:<8}: client {spec.client_id}, secret {spec.client_secret}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        code = _stop(sandbox)
    return code


def _stop(sandbox: Sandbox) -> int:
    """Stop serving; a new seed still being kept is waited for, unless Ctrl-C comes again."""
    skipped: list[int] = []

    def skip(signum: int, frame: object) -> None:
        # Not an exception: raised anywhere in stop(), it could leave a tenant open.
        skipped.append(signum)
        sandbox.stop_keeping()

    # Before the message, and left in place: the program ends here, and a Ctrl-C after the
    # stop (or between the message and the stop) has nothing left to interrupt.
    signal.signal(signal.SIGINT, skip)
    keeping = sandbox.seeds_being_kept
    if keeping:
        print(
            "Keeping the new seed for the next start (a few seconds); Ctrl-C again to skip it.",
            flush=True,
        )
    sandbox.stop()
    if skipped and any(cached_seed(spec.scale, spec.seed) is None for spec in keeping):
        print("The seed was not kept: the next start makes it again.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
