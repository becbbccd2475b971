"""Shared fixtures: a real sandbox server over loopback HTTP, and an IPython test shell."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from clients import export_login
from leakcheck import secrets_of  # noqa: F401  (re-exported for tests)

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
)


@pytest.fixture(autouse=True)
def _clean_elfsquad_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    for name in _ELFSQUAD_ENV:
        monkeypatch.delenv(name, raising=False)
    # Mirrors of a test stay in a folder of its own, never in the user's cache.
    monkeypatch.setenv("ELFSQUAD_MIRROR_DIR", str(tmp_path_factory.mktemp("mirror")))
    monkeypatch.setenv("ELFSQUAD_JOURNAL_DIR", str(tmp_path_factory.mktemp("journal")))


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """One read-mostly sandbox (scale 1, seed 42) for the whole run. Do not write to it."""
    with Sandbox(scale=1, seed=42) as sb:
        yield sb


@pytest.fixture
def fresh_sandbox() -> Iterator[Sandbox]:
    """A private sandbox for tests that write, inject faults or change settings."""
    with Sandbox(scale=1, seed=7) as sb:
        yield sb


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
