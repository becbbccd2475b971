"""Fixtures of the CPQ view tests: one client of the session sandbox with a mirror of its own,
shared by the tests that only read, and the sandbox's raw rows to compute expectations from."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from clients import make_client

from elfsquad_magic.client import ElfsquadClient
from elfsquad_magic.sandbox import Sandbox


@pytest.fixture(scope="session")
def cpq_client(sandbox: Sandbox, tmp_path_factory) -> Iterator[ElfsquadClient]:
    """A client of the read-only session sandbox; its mirror is synced by the first views."""
    client = make_client(sandbox, mirror_dir=tmp_path_factory.mktemp("cpq-mirror"))
    yield client
    client.close()


@pytest.fixture(scope="session")
def raw(sandbox: Sandbox) -> Callable[[str], list[dict]]:
    """The rows of a set straight from the sandbox's store (read once per set)."""
    cache: dict[str, list[dict]] = {}

    def rows(name: str) -> list[dict]:
        if name not in cache:
            cache[name] = sandbox.rows(name)
        return cache[name]

    return rows
