"""Several tenants in one kernel: named connections from connections.toml (secrets in the OS
keyring, here the in-memory test backend), --connection on the magics, %elfsquad_use."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.utils.capture import capture_output

from elfsquad_magic.core.connections import Connection, ConnectionsFile
from elfsquad_magic.errors import JournalError, NotLoggedInError
from elfsquad_magic.notebook import connection_magics


def say(ip, magic: str, line: str = "") -> str:
    with capture_output() as out:
        ip.run_line_magic(magic, line)
    return out.stdout


def save(name: str, sandbox) -> None:
    connection = Connection(
        name, sandbox.client_id, login_url=sandbox.login_url, api_url=sandbox.api_url
    )
    ConnectionsFile().add(connection, secret=sandbox.client_secret)


def test_add_asks_for_the_secret_and_keeps_it_out_of_the_file(
    ip, sandbox, memory_keyring, monkeypatch
) -> None:
    monkeypatch.setattr(connection_magics, "stdin_answerable", lambda shell: True)
    monkeypatch.setattr(connection_magics.getpass, "getpass", lambda prompt: sandbox.client_secret)
    line = (
        f"--add test --client-id {sandbox.client_id} --api-url {sandbox.api_url} "
        f"--login-url {sandbox.login_url}"
    )
    said = say(ip, "elfsquad_connections", line)
    assert "Saved the connection test" in said and sandbox.client_secret not in said
    text = Path(ConnectionsFile().path).read_text(encoding="utf-8")
    assert sandbox.client_id in text and sandbox.client_secret not in text
    user = f"{sandbox.client_id}@{sandbox.api_url.split('://')[1]}"
    assert memory_keyring.items[("elfsquad-magic", user)] == sandbox.client_secret
    said = say(ip, "elfsquad_login", "-c test")
    assert "connection test, secret from keyring" in said
    frame = ip.run_line_magic("elfsquad_connections", "")
    row = frame.set_index("name").loc["test"]
    assert row["logged_in"] and row["current"] and row["secret_from"] == "keyring"
    assert sandbox.client_secret not in frame.to_string()


def test_two_tenants_in_one_kernel(ip, sandbox, fresh_sandbox, memory_keyring) -> None:
    save("first", sandbox)
    save("second", fresh_sandbox)
    say(ip, "elfsquad_login", "--connection first")
    say(ip, "elfsquad_login", "--connection second")  # the current one now
    mine = ip.run_line_magic("elfsquad", "GET /data/1/vats?$select=id")
    theirs = ip.run_line_magic("elfsquad", "--connection first GET /data/1/vats?$select=id")
    assert mine["id"].tolist() == [r["id"] for r in fresh_sandbox.rows("Vats")]
    assert theirs["id"].tolist() == [r["id"] for r in sandbox.rows("Vats")]
    assert "Connection: second (current)" in say(ip, "elfsquad_status")
    assert "Connection: first" in say(ip, "elfsquad_status", "-c first")
    say(ip, "elfsquad_use", "first")
    assert "Connection: first (current)" in say(ip, "elfsquad_status")
    said = say(ip, "elfsquad_logout", "--connection second")
    assert "Logged out" in said
    with pytest.raises(NotLoggedInError, match="connection 'second'"):
        ip.run_line_magic("elfsquad", "-c second GET /data/1/vats")
    assert len(ip.run_line_magic("elfsquad", "GET /data/1/vats")) == len(sandbox.rows("Vats"))


def test_undo_refuses_a_write_of_another_connection(
    ip, sandbox, fresh_sandbox, memory_keyring
) -> None:
    save("reader", sandbox)
    save("writer", fresh_sandbox)
    say(ip, "elfsquad_login", "-c reader")
    say(ip, "elfsquad_login", "-c writer")
    row = fresh_sandbox.rows("Vats")[0]
    ip.user_ns["body"] = {"name": "Renamed"}
    say(ip, "elfsquad", f"--json body PATCH /data/1/vats({row['id']})")
    [entry] = ip.run_line_magic("elfsquad_journal", "").itertuples()
    with pytest.raises(JournalError, match="connection writer") as caught:
        ip.run_line_magic("elfsquad_undo", f"{entry.id} --connection reader")
    assert "--connection" in caught.value.hint
    assert ip.run_line_magic("elfsquad_journal", "-c reader").empty  # the journals stay apart
    assert "restored" in say(ip, "elfsquad_undo", entry.id)  # the current one: writer
    assert fresh_sandbox.rows("Vats")[0]["name"] == row["name"]


def test_use_logs_in_a_saved_connection(ip, sandbox, memory_keyring) -> None:
    save("later", sandbox)
    said = say(ip, "elfsquad_use", "later")
    assert "connection later" in said
    assert "Connection: later (current)" in say(ip, "elfsquad_status")


def test_the_default_connection_logs_in_without_arguments(ip, sandbox, memory_keyring) -> None:
    save("only", sandbox)  # the only connection: the default
    assert "connection only" in say(ip, "elfsquad_login")


def test_diff_between_two_connections_then_offline_without_a_login(
    ip, sandbox, memory_keyring, tmp_path
) -> None:
    from elfsquad_magic.sandbox import Sandbox

    ip.run_line_magic("config", f"ElfsquadMagic.mirror_dir = {str(tmp_path)!r}")
    with Sandbox(scale=1, seed=42) as twin:
        save("test", sandbox)
        save("prod", twin)
        say(ip, "elfsquad_login", "-c test")
        say(ip, "elfsquad_login", "-c prod")
        row = twin.rows("Vats")[0]
        ip.user_ns["body"] = {"name": "Changed in prod"}
        say(ip, "elfsquad", f"--json body PATCH /data/1/vats({row['id']})")
        with capture_output() as out:
            frame = ip.run_line_magic("elfsquad_diff", "test prod Vats -o vat_diff")
        expected = len(sandbox.rows("Vats"))
        assert (
            f"Vats: {expected:,} in both, 0 only in test, 0 only in prod, 1 changed" in out.stdout
        )
        assert frame[["property", "test", "prod"]].values.tolist() == [
            ["name", row["name"], "Changed in prod"]
        ]
        assert ip.user_ns["vat_diff"] is frame
    say(ip, "elfsquad_logout", "-c test")
    say(ip, "elfsquad_logout", "-c prod")
    offline = ip.run_line_magic("elfsquad_diff", "test prod Vats --offline")
    assert offline["property"].tolist() == ["name"]  # from the mirrors, nobody logged in
