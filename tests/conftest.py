"""Shared fixtures: a real sandbox server over loopback HTTP, and an IPython test shell."""

from __future__ import annotations

import _thread
import os
import signal
from collections.abc import Callable, Iterator

import keyring
import pytest
from clients import export_login, fetch_metadata, get_token, make_client
from keyrings import MemoryKeyring
from leakcheck import secrets_of  # noqa: F401  (re-exported for tests)
from scripted import ScriptedServer, serving

from elfsquad_magic.client import ElfsquadClient
from elfsquad_magic.core.schema import ServiceSchema
from elfsquad_magic.sandbox import Sandbox

# Environment variables that would change what a test sees; every test starts without them.
_ELFSQUAD_ENV = (
    "ELFSQUAD_CLIENT_ID",
    "ELFSQUAD_CLIENT_SECRET",
    "ELFSQUAD_LOGIN_URL",
    "ELFSQUAD_API_URL",
    "ELFSQUAD_SCOPE",
    "ELFSQUAD_SCIM_TOKEN",
    "ELFSQUAD_MIRROR_DIR",
    "ELFSQUAD_JOURNAL_DIR",
    "ELFSQUAD_HOME",
    "ELFSQUAD_DEFAULT_CONNECTION",
    "ELFSQUAD_PACE_DIR",
    "ELFSQUAD_SANDBOX_CACHE",
)


@pytest.fixture(autouse=True)
def _clean_elfsquad_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    for name in _ELFSQUAD_ENV:
        monkeypatch.delenv(name, raising=False)
    # Mirrors of a test stay in a folder of its own, never in the user's cache.
    monkeypatch.setenv("ELFSQUAD_MIRROR_DIR", str(tmp_path_factory.mktemp("mirror")))
    monkeypatch.setenv("ELFSQUAD_JOURNAL_DIR", str(tmp_path_factory.mktemp("journal")))
    # connections.toml of a test stays in a folder of its own, never in the user's config.
    monkeypatch.setenv("ELFSQUAD_HOME", str(tmp_path_factory.mktemp("home")))
    # What the pace learns of a host too: a test never writes the user's cache.
    monkeypatch.setenv("ELFSQUAD_PACE_DIR", str(tmp_path_factory.mktemp("pace")))
    # And the seeded tenants the sandbox keeps.
    monkeypatch.setenv("ELFSQUAD_SANDBOX_CACHE", str(tmp_path_factory.mktemp("sandbox-cache")))


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """One read-mostly sandbox (scale 1, seed 42) for the whole run. Do not write to it."""
    with Sandbox(scale=1, seed=42) as sb:
        yield sb


SMALL_PAGE = 50
"""The page size of ``small_pages``: QuotationLines then spans 100+ pages."""


@pytest.fixture(scope="session")
def small_pages() -> Iterator[Sandbox]:
    """Scale 1 with 50-row pages, so the larger sets span many pages. Read only."""
    with Sandbox(scale=1, seed=42, page_size=SMALL_PAGE) as sb:
        yield sb


@pytest.fixture
def fresh_sandbox() -> Iterator[Sandbox]:
    """A private sandbox for tests that write, inject faults or change settings."""
    with Sandbox(scale=1, seed=7) as sb:
        yield sb


@pytest.fixture
def client(sandbox: Sandbox) -> ElfsquadClient:
    """A client of the session sandbox, not logged in yet (it logs in on its first request)."""
    return make_client(sandbox)


@pytest.fixture(scope="module")
def metadata(sandbox: Sandbox) -> ServiceSchema:
    """The sandbox's $metadata, read over plain HTTP (not through the client under test)."""
    return fetch_metadata(sandbox, get_token(sandbox))


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A scripted HTTP server of its own for the test (``tests/scripted.py``)."""
    yield from serving()


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """The OS keyring replaced by an in-memory one for the test (nothing reaches the user's)."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def ctrl_c() -> Iterator[Callable[[], None]]:
    """What pressing Ctrl-C does, as a function another thread may call: SIGINT raised in the
    main thread as KeyboardInterrupt. The handler is installed for the test, because a suite
    started in the background (``nohup ... &``) inherits SIGINT ignored, and then an interrupt
    would do nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield lambda: _thread.interrupt_main(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def sandbox_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """The session sandbox's credentials and hosts exported as ELFSQUAD_* variables."""
    export_login(monkeypatch, sandbox)
    return sandbox


@pytest.fixture
def ip():
    """The test IPython shell with the extension freshly loaded (unloaded again afterwards).

    ``ip.run_cell`` returns an ExecutionResult (call ``.raise_error()`` to re-raise);
    ``ip.run_line_magic`` and ``ip.run_cell_magic`` raise directly.
    """
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    # start_ipython() builds the shell once per process and returns None on later calls.
    start_ipython()
    shell = get_ipython()
    shell.run_line_magic("load_ext", "elfsquad_magic")
    yield shell
    shell.run_line_magic("unload_ext", "elfsquad_magic")
    # %config writes into the shared shell's config, which the next test's magic would inherit.
    shell.config.pop("ElfsquadMagic", None)
    shell.user_ns.clear()
    shell.user_ns.update(shell.user_ns_hidden)


if os.environ.get("CI"):
    # CI machines are slower; hypothesis deadlines are not what these tests measure.
    from hypothesis import settings

    settings.register_profile("ci", deadline=None)
    settings.load_profile("ci")
