"""A large tenant's rows made by a child interpreter: the same rows as made in this process;
closed early, the child stops; a child that dies at any point fails the load with a message
and leaves no tenant file and no kept copy; a child whose reader died stops by itself."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_seed_stream import PINNED, tenant_hash

from elfsquad_magic.sandbox import seed_cache, tenants
from elfsquad_magic.sandbox.seed import stream_tenant
from elfsquad_magic.sandbox.tenant_stream import SeedGeneratorError, stream_tenant_apart
from elfsquad_magic.sandbox.tenants import Tenant, TenantSpec


def children() -> set[int]:
    """The live child processes of this process."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        text = (task / "children").read_text()
        found |= {int(pid) for pid in text.split()}
    return {pid for pid in found if _alive(pid)}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_gone(pid: int, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")


def test_the_tenant_made_apart_is_the_tenant_made_here() -> None:
    chunks = list(stream_tenant_apart(1, 42, chunk_rows=300))
    assert sum(1 for name, _ in chunks if name == "QuotationLines") > 3  # really streamed
    assert tenant_hash(chunks) == PINNED[(1, 42)]
    # Rows in model order, as the store needs them (the child leaves that to the reader).
    assert [name for name, _ in chunks] == [name for name, _ in stream_tenant(1, 42, 300)]
    here = dict(stream_tenant(1, 42, chunk_rows=10**9))
    for name, rows in chunks:
        assert list(rows[0]) == list(here[name][0]), name


def test_another_scale_and_seed_are_the_same_made_apart() -> None:
    assert tenant_hash(stream_tenant_apart(3, 7)) == tenant_hash(stream_tenant(3, 7))


@pytest.mark.parametrize("interpreter", ["exits at once", "cannot be started"])
def test_a_child_that_sends_nothing_leaves_the_rows_to_this_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, interpreter: str
) -> None:
    # An interpreter that cannot run the child (a program that exits at once, or none at
    # all): the same rows, made here, rather than a sandbox that cannot start.
    failing = shutil.which("false") if interpreter == "exits at once" else None
    if interpreter == "exits at once" and failing is None:
        pytest.skip("no false(1) here")
    monkeypatch.setattr(sys, "executable", failing or str(tmp_path / "no-python"))
    assert tenant_hash(stream_tenant_apart(1, 42, chunk_rows=300)) == PINNED[(1, 42)]


def test_closing_early_stops_the_child() -> None:
    before = children()
    chunks = stream_tenant_apart(3, 42, chunk_rows=500)
    next(chunks)
    started = children() - before
    assert len(started) == 1
    chunks.close()  # type: ignore[attr-defined]
    assert wait_gone(started.pop())


def killed_after(count: int) -> Iterator:
    """stream_tenant_apart whose child is killed once ``count`` chunks came."""

    def stream(scale: int, seed: int) -> Iterator:
        before = children()
        chunks = stream_tenant_apart(scale, seed, chunk_rows=400)
        for done, chunk in enumerate(chunks, start=1):
            yield chunk
            if done == count:
                for pid in children() - before:
                    os.kill(pid, signal.SIGKILL)

    return stream  # type: ignore[return-value]


@pytest.mark.parametrize("count", [1, 12, 60])
def test_a_child_killed_at_any_point_fails_the_start_and_leaves_nothing(
    count: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Scale 3 goes through the file and the kept copy (1: the first sets; 12: the first
    # quotations; 60: far into them, more than a chunk of lines).
    monkeypatch.setattr(tenants, "MEMORY_MAX_SCALE", 0)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, str(tmp_path / "kept"))
    monkeypatch.setattr(tenants, "stream_tenant_apart", killed_after(count))
    before = children()
    with pytest.raises(SeedGeneratorError) as caught:
        Tenant(TenantSpec("default", "demo-client", scale=3, seed=11), page_size=100)
    message = str(caught.value)
    assert "stopped before the end" in message and "start the sandbox again" in message
    assert "-9" in message  # the exit code says it was killed
    assert not list(tmp_path.glob("elfsquad-sandbox-*"))
    assert not list((tmp_path / "kept").glob("*.db"))
    assert children() == before


def test_a_child_whose_reader_died_stops(tmp_path: Path) -> None:
    reader = textwrap.dedent(
        """
        import os, sys
        from elfsquad_magic.sandbox.tenant_stream import stream_tenant_apart
        chunks = stream_tenant_apart(20, 42, chunk_rows=2000)
        next(chunks)
        children = open(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read().split()
        print(children[0], flush=True)
        os.kill(os.getpid(), 9)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", reader], capture_output=True, text=True, timeout=120
    )
    child = int(proc.stdout.split()[0])
    # Its next write finds no reader: it stops instead of making a scale-20 tenant for none.
    assert wait_gone(child, seconds=30)


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                kids = {int(k) for k in (task / "children").read_text().split()}
            except OSError:
                continue
            found |= kids
            todo += list(kids)
    return {pid for pid in found if _alive(pid)}


@pytest.mark.parametrize("stop", ["SIGTERM to the sandbox", "Ctrl-C at its terminal"])
def test_a_sandbox_stopped_while_its_generator_runs_leaves_nothing(
    tmp_path: Path, stop: str
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    code = (
        # Ctrl-C as at a terminal: a runner started in the background (``&``) hands its
        # children SIGINT ignored, and Python then leaves it ignored.
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "import elfsquad_magic.sandbox.tenants as t; t.MEMORY_MAX_SCALE = 0\n"
        "from elfsquad_magic.sandbox.__main__ import main\n"
        "raise SystemExit(main(['--scale', '8', '--port', '0']))\n"
    )
    env = {**os.environ, "TMPDIR": str(scratch), seed_cache.ENV_SEED_CACHE: "off"}
    # A session of its own: Ctrl-C at a terminal reaches its whole process group.
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, start_new_session=True
    )
    generators: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while not generators and time.monotonic() < deadline:
            generators = _descendants(process.pid)
            time.sleep(0.01)
        assert generators, "the sandbox started no generator"
        time.sleep(0.3)  # into the rows
        assert list(scratch.glob("elfsquad-sandbox-*"))
        if stop.startswith("SIGTERM"):
            process.send_signal(signal.SIGTERM)
        else:
            os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) in (0, 1, 130)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert all(wait_gone(pid) for pid in generators)
    assert not list(scratch.glob("elfsquad-sandbox-*"))
