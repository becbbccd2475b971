"""Large seeded tenants kept between starts: seeded once, then copied; the same rows either
way; off when asked, harmless when the cache cannot be written; no secret in the kept file."""

from __future__ import annotations

import copy
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial

import pytest

from elfsquad_magic.sandbox import Sandbox, seed_cache, tenants
from elfsquad_magic.sandbox.metadata import load_service
from elfsquad_magic.sandbox.seed import generate_tenant
from elfsquad_magic.sandbox.store import Store
from elfsquad_magic.sandbox.tenants import Tenant, TenantSpec

SETS = ("QuotationLines", "Quotations", "FeatureModelNodes", "Features")


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch):
    """Scale 1 counts as large here, so it goes through the file and the cache."""
    monkeypatch.setattr(tenants, "MEMORY_MAX_SCALE", 0)


def snapshot(tenant: Tenant) -> dict[str, list[dict]]:
    return {name: tenant.store.rows(tenant.spec_of(name)) for name in SETS}


def start(seed: int = 5) -> Tenant:
    return Tenant(TenantSpec("default", "demo-client", scale=1, seed=seed), page_size=100)


def test_seeded_once_then_copied_with_the_same_rows(large, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, str(tmp_path))
    first = start()
    try:
        seeded = snapshot(first)
        secrets = (first.client_secret, first.scim_token)
    finally:
        first.close()
    kept = list(tmp_path.glob("tenant-1-5-*.db"))
    assert len(kept) == 1 and seed_cache.seed_fingerprint() in kept[0].name
    assert not list(tmp_path.glob(".partial-*"))
    data = kept[0].read_bytes()
    assert all(secret.encode() not in data for secret in secrets)

    def no_seeding(*args, **kwargs):
        raise AssertionError("seeded again although a kept copy exists")

    monkeypatch.setattr(tenants, "seed_store", no_seeding)
    second = start()
    try:
        assert snapshot(second) == seeded
    finally:
        second.close()
    # Another seed is another tenant: not taken from this file.
    monkeypatch.undo()
    monkeypatch.setattr(tenants, "MEMORY_MAX_SCALE", 0)
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, str(tmp_path))
    other = start(seed=6)
    try:
        assert snapshot(other)["Features"] != seeded["Features"]
    finally:
        other.close()


def test_off_keeps_nothing_and_a_broken_cache_still_starts(large, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, "off")
    tenant = start()
    tenant.close()
    assert seed_cache.cached_seed(1, 5) is None
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, str(blocker))
    tenant = start()
    try:
        assert tenant.store.rows(tenant.spec_of("QuotationLines"))
    finally:
        tenant.close()
    assert blocker.read_text().startswith("a file")


def test_a_copy_that_fails_leaves_an_empty_file_to_seed(tmp_path) -> None:
    target = tmp_path / "scratch.db"
    target.write_bytes(b"half a copy")
    assert not seed_cache.copy_seed(tmp_path / "gone.db", str(target))
    assert target.read_bytes() == b""  # the store then finds no tables and seeds


def test_stopped_while_seeding_leaves_no_file(large, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, str(tmp_path / "kept"))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tenants, "seed_store", interrupted)
    with pytest.raises(KeyboardInterrupt):
        start()
    assert not list(tmp_path.glob("elfsquad-sandbox-*")) and not (tmp_path / "kept").exists()


@pytest.mark.parametrize("moment", ["while seeding", "while serving"])
def test_a_terminated_sandbox_removes_its_file(tmp_path, moment: str) -> None:
    """SIGTERM (a benchmark's or a service manager's stop) cleans up as Ctrl-C does."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = (
        "import elfsquad_magic.sandbox.tenants as t; t.MEMORY_MAX_SCALE = 0\n"
        "from elfsquad_magic.sandbox.__main__ import main\n"
        f"raise SystemExit(main(['--scale', '2', '--port', '{port}']))\n"
    )
    env = {**os.environ, "TMPDIR": str(scratch), seed_cache.ENV_SEED_CACHE: "off"}
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        if moment == "while seeding":
            deadline = time.monotonic() + 30
            while not list(scratch.glob("elfsquad-sandbox-*")) and time.monotonic() < deadline:
                time.sleep(0.005)
        else:
            assert process.stdout is not None
            for line in process.stdout:
                if "serving at" in line:
                    break
        assert list(scratch.glob("elfsquad-sandbox-*"))  # the tenant's file, there
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) in (0, 130)
    finally:
        process.kill()
    assert not list(scratch.glob("elfsquad-sandbox-*"))


def test_a_sandbox_that_cannot_take_its_port_leaves_no_file(large, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, "off")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            Sandbox(scale=1, port=taken.getsockname()[1]).start()
    assert not list(tmp_path.glob("elfsquad-sandbox-*"))


def test_a_full_disk_while_keeping_only_means_seeding_again(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, str(tmp_path))

    def full(path: str) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    assert seed_cache.keep_seed(full, 1, 5) is None
    assert list(tmp_path.iterdir()) == []  # no half file left


def test_keeping_a_seed_removes_the_copies_older_code_made(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, str(tmp_path))
    stale = tmp_path / "tenant-1-5-0123456789abcdef.db"
    stale.write_bytes(b"made by other code")
    other_seed = tmp_path / "tenant-1-6-0123456789abcdef.db"
    other_scale = tmp_path / "tenant-10-5-0123456789abcdef.db"
    for path in (other_seed, other_scale):
        path.write_bytes(b"another tenant")

    def save(path: str) -> None:
        sqlite3.connect(path).close()

    kept = seed_cache.keep_seed(save, 1, 5)
    assert kept is not None and kept.exists() and seed_cache.seed_fingerprint() in kept.name
    assert not stale.exists()
    assert other_seed.exists() and other_scale.exists()


class Gate:
    """A stop flag that holds a copy at its first step until the test lets it go."""

    def __init__(self) -> None:
        self.copying, self.go = threading.Event(), threading.Event()

    def is_set(self) -> bool:
        self.copying.set()
        assert self.go.wait(timeout=30)
        return False


def test_reads_go_on_while_a_store_is_copied_and_writes_wait(tmp_path) -> None:
    service = copy.deepcopy(load_service())
    store = Store(service, str(tmp_path / "scratch.db"), scratch=True)
    vats = service.sets["Vats"]
    rows = generate_tenant(1, 42)["Vats"]
    store.insert(vats, rows[:2])
    gate, copied = Gate(), tmp_path / "copy.db"
    copying = threading.Thread(target=store.save_to, args=(str(copied),), kwargs={"stop": gate})
    writing = threading.Thread(target=store.insert, args=(vats, rows[2:3]))
    try:
        copying.start()
        assert gate.copying.wait(timeout=30)
        assert len(store.rows(vats)) == 2  # a read during the copy
        writing.start()
        writing.join(timeout=0.5)
        assert writing.is_alive()  # the write waits for the copy
        gate.go.set()
        copying.join(timeout=30)
        writing.join(timeout=30)
        assert len(store.rows(vats)) == 3
    finally:
        gate.go.set()
        store.close()
    with sqlite3.connect(copied) as kept:  # the copy is of the store before the write
        assert kept.execute('SELECT COUNT(*) FROM "t_Vats"').fetchone()[0] == 2


def test_a_copy_stopped_midway_raises_and_keeps_nothing(monkeypatch, tmp_path) -> None:
    store = Store(copy.deepcopy(load_service()), str(tmp_path / "scratch.db"), scratch=True)
    stop = threading.Event()
    stop.set()
    try:
        with pytest.raises(InterruptedError):
            store.save_to(str(tmp_path / "copy.db"), stop=stop)
        monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, str(tmp_path / "kept"))
        assert seed_cache.keep_seed(partial(store.save_to, stop=stop), 1, 5) is None
    finally:
        store.close()
    assert list((tmp_path / "kept").iterdir()) == []


def ctrl_c_once_a_copy_waits(monkeypatch: pytest.MonkeyPatch) -> threading.Thread:
    """Hold every seed copy until it is told to stop; the thread returned (to start) sends
    SIGINT to this thread once a copy is held and the test is waiting for it."""
    keeping = threading.Event()
    real_keep = tenants.keep_seed

    def held_keep(save, scale: int, seed: int):
        def save_once_stopped(path: str) -> None:
            keeping.set()
            save.keywords["stop"].wait(timeout=30)  # stopped by the Ctrl-C
            save(path)

        return real_keep(save_once_stopped, scale, seed)

    monkeypatch.setattr(tenants, "keep_seed", held_keep)
    main = threading.get_ident()

    def ctrl_c() -> None:
        assert keeping.wait(timeout=30)
        time.sleep(0.2)  # the test waits for the copy by now
        signal.pthread_kill(main, signal.SIGINT)

    return threading.Thread(target=ctrl_c)


def test_ctrl_c_while_a_closing_tenant_waits_for_its_kept_copy_keeps_nothing(
    large, monkeypatch, tmp_path
) -> None:
    """The copy of a new seed is made while the tenant serves; closing waits for it, and a
    Ctrl-C during that wait stops it with no half file left."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, str(tmp_path / "kept"))
    ctrl_c = ctrl_c_once_a_copy_waits(monkeypatch)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        tenant = start()
        assert tenant.store.rows(tenant.spec_of("Vats"))  # serving while the copy is made
        ctrl_c.start()
        with pytest.raises(KeyboardInterrupt):
            tenant.close()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert list((tmp_path / "kept").iterdir()) == []  # neither the copy nor half of it
    assert not list(tmp_path.glob("elfsquad-sandbox-*"))


def test_a_write_before_the_seed_is_kept_waits_and_stays_out_of_the_kept_copy(
    large, monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, str(tmp_path))
    keeping, release = threading.Event(), threading.Event()
    real_keep = tenants.keep_seed

    def held_keep(save, scale: int, seed: int):
        keeping.set()
        assert release.wait(timeout=30)
        return real_keep(save, scale, seed)

    monkeypatch.setattr(tenants, "keep_seed", held_keep)
    tenant = start()
    try:
        vats = tenant.spec_of("Vats")
        seeded = tenant.store.rows(vats)
        assert keeping.wait(timeout=30)
        new = {**seeded[0], "id": "0f0f0f0f-0000-4000-8000-000000000001"}
        writing = threading.Thread(target=tenant.store.insert, args=(vats, [new]))
        writing.start()
        writing.join(timeout=0.5)
        assert writing.is_alive()  # a client's first write waits for the kept copy
        assert tenant.store.rows(vats) == seeded  # reads go on
        release.set()
        writing.join(timeout=30)
        assert len(tenant.store.rows(vats)) == len(seeded) + 1
    finally:
        release.set()
        tenant.close()
    (kept,) = tmp_path.glob("tenant-1-5-*.db")
    with sqlite3.connect(kept) as db:  # the seed as made, without the write
        assert db.execute('SELECT COUNT(*) FROM "t_Vats"').fetchone()[0] == len(seeded)


def test_keeping_a_seed_removes_half_copies_a_killed_sandbox_left(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, str(tmp_path))
    abandoned = tmp_path / ".partial-killed.db"
    under_way = tmp_path / ".partial-another-sandbox.db"
    for path in (abandoned, under_way):
        path.write_bytes(b"half a copy")
    hour_ago = time.time() - 3600
    os.utime(abandoned, (hour_ago, hour_ago))

    def save(path: str) -> None:
        sqlite3.connect(path).close()

    assert seed_cache.keep_seed(save, 1, 5) is not None
    assert not abandoned.exists()
    assert under_way.exists()  # another sandbox may be writing it now


def test_ctrl_c_while_a_stopping_sandbox_keeps_its_seeds_closes_every_tenant(
    large, monkeypatch, tmp_path
) -> None:
    """Stopping waits for the seeds being kept; a Ctrl-C then keeps none and still closes
    every tenant (the second one's file too)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv(seed_cache.ENV_SEED_CACHE, str(tmp_path / "kept"))
    ctrl_c = ctrl_c_once_a_copy_waits(monkeypatch)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    second = TenantSpec("second", "second-client", scale=1, seed=6)
    sandbox = Sandbox(scale=1, seed=5, port=0, tenants=[second])
    try:
        sandbox.start()
        assert [spec.name for spec in sandbox.seeds_being_kept] == ["default", "second"]
        assert len(list(tmp_path.glob("elfsquad-sandbox-*"))) == 2
        ctrl_c.start()
        with pytest.raises(KeyboardInterrupt):
            sandbox.stop()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sandbox.seeds_being_kept == []
    assert list((tmp_path / "kept").iterdir()) == []
    assert not list(tmp_path.glob("elfsquad-sandbox-*"))


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_at_the_command_line_while_the_seed_is_kept(tmp_path, presses: int) -> None:
    """Once: the sandbox says it keeps the new seed, waits for it and keeps it whole. Twice:
    it keeps nothing, leaves no half file and says so (exit 130, no traceback). The copy is
    slowed so that it is still under way when the keys come."""
    scratch, kept = tmp_path / "tmp", tmp_path / "kept"
    scratch.mkdir()
    code = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "import elfsquad_magic.sandbox.tenants as t; t.MEMORY_MAX_SCALE = 0\n"
        "real = os.copy_file_range\n"
        "def slow(*args):\n"
        "    time.sleep(0.2)\n"
        "    return real(args[0], args[1], 4 << 20)\n"
        "os.copy_file_range = slow\n"
        "from elfsquad_magic.sandbox.__main__ import main\n"
        "raise SystemExit(main(['--scale', '3', '--port', '0']))\n"
    )
    env = {**os.environ, "TMPDIR": str(scratch), seed_cache.ENV_SEED_CACHE: str(kept)}
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = iter(process.stdout.readline, "")
        assert any("Press Ctrl-C" in line for line in lines)
        assert list(kept.glob(".partial-*"))  # the copy is under way
        process.send_signal(signal.SIGINT)
        assert any("Keeping the new seed" in line for line in lines)
        if presses == 2:
            process.send_signal(signal.SIGINT)
        rest = process.stdout.read()
        code_ = process.wait(timeout=60)
    finally:
        process.kill()
    assert "Traceback" not in rest
    assert not list(kept.glob(".partial-*")) and not list(scratch.glob("elfsquad-sandbox-*"))
    if presses == 1:
        assert code_ == 0 and len(list(kept.glob("tenant-3-42-*.db"))) == 1
    else:
        assert code_ == 130 and "The seed was not kept" in rest
        assert list(kept.iterdir()) == []
