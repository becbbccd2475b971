"""Named connections from a script: ElfsquadClient.connect reads connections.toml and the
secret from the OS keyring (the in-memory test backend) or the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from elfsquad_magic import ElfsquadClient
from elfsquad_magic.core.connections import Connection, ConnectionsFile
from elfsquad_magic.errors import LoginError


def test_connect_logs_in_with_the_keyring_secret(sandbox, memory_keyring) -> None:
    ConnectionsFile().add(
        Connection("demo", sandbox.client_id, login_url=sandbox.login_url, api_url=sandbox.api_url),
        secret=sandbox.client_secret,
    )
    client = ElfsquadClient.connect("demo", progress=False)
    assert client.connection == "demo" and client.client_id == sandbox.client_id
    assert len(client.get("/data/1/vats")) == len(sandbox.rows("Vats"))
    text = Path(ConnectionsFile().path).read_text(encoding="utf-8")
    assert sandbox.client_secret not in text and sandbox.client_secret not in repr(client)


def test_connect_with_the_secret_in_the_environment(sandbox, monkeypatch) -> None:
    ConnectionsFile().add(
        Connection(
            "ci",
            sandbox.client_id,
            login_url=sandbox.login_url,
            api_url=sandbox.api_url,
            client_secret_env="DEMO_SECRET",
        )
    )
    with pytest.raises(LoginError, match=r"\$DEMO_SECRET, which is not set"):
        ElfsquadClient.connect("ci")
    monkeypatch.setenv("DEMO_SECRET", sandbox.client_secret)
    client = ElfsquadClient.from_connection(progress=False)  # the only one: the default
    assert client.connection == "ci" and len(client.get("/data/1/vats")) > 0
