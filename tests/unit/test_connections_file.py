"""connections.toml: named tenants, where their secrets come from, and errors that say what to
fix. The OS keyring is the in-memory test backend; the file lives in a test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from elfsquad_magic.core.connections import Connection, ConnectionsFile, connections_path
from elfsquad_magic.errors import LoginError, UsageError

FILE = """default_connection = "test"

[connections.test]
client_id = "acme-test"
api_url = "https://api.test.example.com"
login_url = "https://login.test.example.com"

[connections.prod]
client_id = "acme-prod"
client_secret_env = "ACME_PROD_SECRET"
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ELFSQUAD_HOME", str(tmp_path))
    monkeypatch.delenv("ELFSQUAD_DEFAULT_CONNECTION", raising=False)
    return tmp_path


def write(home: Path, text: str, mode: int = 0o600) -> Path:
    path = home / "connections.toml"
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def test_elfsquad_home_holds_the_file(home: Path) -> None:
    assert connections_path() == home / "connections.toml"


def test_connections_and_the_default(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(home, FILE)
    file = ConnectionsFile()
    test = file.get()
    assert (test.name, test.client_id, test.api_url) == (
        "test",
        "acme-test",
        "https://api.test.example.com",
    )
    assert file.get("prod").api_url == "https://api.elfsquad.io"  # the default host
    monkeypatch.setenv("ELFSQUAD_DEFAULT_CONNECTION", "prod")
    assert file.get().name == "prod"


def test_the_secret_from_the_keyring(home: Path, memory_keyring) -> None:
    write(home, FILE)
    file = ConnectionsFile()
    with pytest.raises(LoginError, match="keyring holds no secret for connection 'test'"):
        file.secret(file.get("test"))
    memory_keyring.items[("elfsquad-magic", "acme-test")] = "s3cret-test"
    assert file.secret(file.get("test")) == "s3cret-test"
    assert file.get("test").secret_source == "keyring"


def test_the_secret_from_the_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(home, FILE)
    file = ConnectionsFile()
    with pytest.raises(LoginError, match=r"\$ACME_PROD_SECRET, which is not set"):
        file.secret(file.get("prod"))
    monkeypatch.setenv("ACME_PROD_SECRET", "s3cret-prod")
    assert file.secret(file.get("prod")) == "s3cret-prod"


def test_a_secret_in_the_file_only_when_the_file_is_private(home: Path) -> None:
    text = '[connections.local]\nclient_id = "x"\nclient_secret = "in-the-file"\n'
    path = write(home, text, 0o644)
    file = ConnectionsFile()
    with pytest.raises(LoginError, match="others can read it") as caught:
        file.secret(file.get("local"))
    assert "in-the-file" not in str(caught.value) and f"chmod 600 {path}" in caught.value.hint
    os.chmod(path, 0o600)
    assert file.secret(file.get("local")) == "in-the-file"


def test_an_unknown_connection_names_the_close_ones(home: Path) -> None:
    write(home, FILE)
    with pytest.raises(UsageError, match="no connection named 'prd'") as caught:
        ConnectionsFile().get("prd")
    assert "Did you mean prod" in caught.value.hint


def test_a_malformed_file_names_its_line(home: Path) -> None:
    write(home, '[connections.test]\nclient_id = "a"\napi_url = https://no-quotes\n')
    with pytest.raises(UsageError, match="line 3"):
        ConnectionsFile().get("test")
    write(home, '[connections.test]\nclient_id = "a"\nsecret = "x"\n')
    with pytest.raises(UsageError, match="unknown keys secret"):
        ConnectionsFile().get("test")


def test_adding_keeps_the_secret_out_of_the_file(home: Path, memory_keyring) -> None:
    write(home, FILE)
    file = ConnectionsFile()
    file.add(
        Connection("staging", "acme-staging", api_url="https://api.staging.example.com"),
        secret="s3cret-staging",
    )
    text = (home / "connections.toml").read_text(encoding="utf-8")
    assert "s3cret-staging" not in text
    user = "acme-staging@api.staging.example.com"
    assert memory_keyring.items[("elfsquad-magic", user)] == "s3cret-staging"
    assert os.stat(home / "connections.toml").st_mode & 0o077 == 0
    assert set(file.connections()) == {"test", "prod", "staging"}
    assert file.get().name == "test"  # the default stays
    file.remove("test")
    assert set(file.connections()) == {"prod", "staging"}
    assert "default_connection" not in (home / "connections.toml").read_text(encoding="utf-8")
