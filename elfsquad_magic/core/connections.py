"""Named connections: a ``connections.toml`` of tenants, their secrets in the OS keyring.

The file lives in the user config folder (``ELFSQUAD_HOME=DIR`` makes it
``DIR/connections.toml``), one table per connection::

    default_connection = "test"

    [connections.test]
    client_id = "..."
    login_url = "https://login.elfsquad.io"     # optional, as api_url and scope
    api_url = "https://api.elfsquad.io"
    client_secret_env = "ELFSQUAD_TEST_SECRET"  # or: the OS keyring (the default)

A connection's secret comes from the OS keyring (the default: service ``elfsquad-magic``, user
name ``<client id>@<API host>``), from the environment variable ``client_secret_env`` names,
or, only when the file is readable by its owner alone (0600, as SSH asks of a private key),
from ``client_secret`` in the file. ``default_connection`` (or ``ELFSQUAD_DEFAULT_CONNECTION``)
names the connection used when none is named. Nothing here writes a secret into the file.
"""

from __future__ import annotations

import difflib
import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import LoginError, UsageError
from .keyring_secrets import read_secret, store_secret
from .odata import DEFAULT_API_URL, DEFAULT_LOGIN_URL, DEFAULT_SCOPE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "ENV_DEFAULT_CONNECTION",
    "ENV_HOME",
    "Connection",
    "ConnectionsFile",
    "connections_path",
]

ENV_HOME = "ELFSQUAD_HOME"
"""A folder of the user's own for ``connections.toml`` (else the user config folder)."""
ENV_DEFAULT_CONNECTION = "ELFSQUAD_DEFAULT_CONNECTION"
"""The connection used when none is named (over the file's ``default_connection``)."""

_KEYS = frozenset(
    {"client_id", "login_url", "api_url", "scope", "client_secret_env", "client_secret"}
)


def connections_path() -> Path:
    """Where ``connections.toml`` is: ``$ELFSQUAD_HOME``, else the user config folder."""
    home = os.environ.get(ENV_HOME, "").strip()
    if home:
        return Path(home).expanduser() / "connections.toml"
    import platformdirs

    return platformdirs.user_config_path("elfsquad-magic") / "connections.toml"


@dataclass(frozen=True)
class Connection:
    """One tenant's login: its name, client id, hosts, scope and where its secret is (never the
    secret itself)."""

    name: str
    client_id: str
    login_url: str = DEFAULT_LOGIN_URL
    api_url: str = DEFAULT_API_URL
    scope: str = DEFAULT_SCOPE
    client_secret_env: str | None = None
    secret_in_file: bool = False

    @property
    def keyring_user(self) -> str:
        """The user name its secret has in the OS keyring: the client id at the API host (one
        client id may serve two hosts, a test and a production tenant)."""
        return f"{self.client_id}@{urlsplit(self.api_url).netloc or self.api_url}"

    @property
    def secret_source(self) -> str:
        """Where the secret comes from: ``keyring``, ``env $NAME`` or ``file``."""
        if self.client_secret_env:
            return f"env ${self.client_secret_env}"
        return "file" if self.secret_in_file else "keyring"


class ConnectionsFile:
    """The connections of one ``connections.toml`` (read when asked, so edits count)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else connections_path()

    # -- reading --------------------------------------------------------------------------

    def _document(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {}
        text = self.path.read_text(encoding="utf-8")
        failure: UsageError | None = None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            # tomllib says "(at line 4, column 9)": the place is what the user needs.
            failure = UsageError(
                f"{self.path} is not valid TOML: {exc}.",
                "Fix that line (strings in double quotes, one [connections.NAME] per "
                "connection), or remove the file.",
            )
        raise failure

    def connections(self) -> dict[str, Connection]:
        """Every connection of the file, by name (none when there is no file)."""
        tables = self._document().get("connections") or {}
        if not isinstance(tables, dict):
            raise UsageError(
                f"{self.path}: 'connections' must be tables ([connections.NAME]).",
                "See the format in the docs' 'Several tenants' page.",
            )
        return {name: self._connection(name, table) for name, table in tables.items()}

    def _connection(self, name: str, table: Any) -> Connection:
        if not isinstance(table, dict):
            raise UsageError(f"{self.path}: [connections.{name}] is not a table.")
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise UsageError(
                f"{self.path}: [connections.{name}] has unknown keys {', '.join(unknown)}.",
                f"A connection takes {', '.join(sorted(_KEYS))}.",
            )
        client_id = str(table.get("client_id") or "").strip()
        if not client_id:
            raise UsageError(f"{self.path}: [connections.{name}] has no client_id.")
        return Connection(
            name=name,
            client_id=client_id,
            login_url=str(table.get("login_url") or DEFAULT_LOGIN_URL),
            api_url=str(table.get("api_url") or DEFAULT_API_URL),
            scope=str(table.get("scope") or DEFAULT_SCOPE),
            client_secret_env=table.get("client_secret_env") or None,
            secret_in_file="client_secret" in table,
        )

    def default_name(self) -> str | None:
        """The connection used when none is named: ``$ELFSQUAD_DEFAULT_CONNECTION``, else the
        file's ``default_connection``, else the only connection there is."""
        named = os.environ.get(ENV_DEFAULT_CONNECTION, "").strip()
        if named:
            return named
        document = self._document()
        if document.get("default_connection"):
            return str(document["default_connection"])
        names = list(document.get("connections") or {})
        return names[0] if len(names) == 1 else None

    def get(self, name: str | None = None) -> Connection:
        """The connection ``name`` (default: :meth:`default_name`), or an error naming the
        connections there are and the close ones."""
        connections = self.connections()
        chosen = name or self.default_name()
        if chosen is None:
            raise UsageError(
                "No connection was named and there is no default connection.",
                f"Name one (--connection NAME), or set default_connection in {self.path}.",
            )
        if chosen not in connections:
            close = difflib.get_close_matches(chosen, list(connections), n=3, cutoff=0.5)
            there = ", ".join(sorted(connections)) or "none"
            raise UsageError(
                f"There is no connection named {chosen!r} in {self.path} (there: {there}).",
                f"Did you mean {', '.join(close)}?"
                if close
                else "Add it with %elfsquad_connections --add NAME.",
            )
        return connections[chosen]

    def secret(self, connection: Connection) -> str:
        """The client secret of ``connection``, from the keyring, the environment or (0600
        only) the file; a :class:`LoginError` that says where it looked otherwise."""
        if connection.client_secret_env:
            value = os.environ.get(connection.client_secret_env, "")
            if not value:
                raise LoginError(
                    f"The secret of connection {connection.name!r} comes from "
                    f"${connection.client_secret_env}, which is not set.",
                    f"Set {connection.client_secret_env} before starting Jupyter.",
                )
            return value
        if connection.secret_in_file:
            return self._file_secret(connection)
        # The connection's own entry; else the client id's, as %elfsquad_login --keyring keeps it.
        value = read_secret(connection.keyring_user) or read_secret(connection.client_id)
        if value is None:
            raise LoginError(
                f"The OS keyring holds no secret for connection {connection.name!r} "
                f"(client {connection.client_id}).",
                f"Store it: %elfsquad_connections --add {connection.name} (a masked prompt), "
                "or name an environment variable with client_secret_env.",
            )
        return value

    def login_options(self, name: str | None = None) -> tuple[Connection, dict[str, str]]:
        """The connection ``name`` (default: the default one) and what a client logs in with:
        client id, secret, hosts and scope."""
        connection = self.get(name)
        return connection, {
            "client_id": connection.client_id,
            "client_secret": self.secret(connection),
            "login_url": connection.login_url,
            "api_url": connection.api_url,
            "scope": connection.scope,
        }

    def _file_secret(self, connection: Connection) -> str:
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if os.name != "nt" and mode & 0o077:
            raise LoginError(
                f"{self.path} holds a client_secret but others can read it "
                f"(permissions {mode:o}); it was not used.",
                f"Make it yours alone: chmod 600 {self.path} (or keep the secret in the OS "
                "keyring and remove client_secret from the file).",
            )
        tables = self._document().get("connections") or {}
        return str((tables.get(connection.name) or {}).get("client_secret") or "")

    # -- writing --------------------------------------------------------------------------

    def add(self, connection: Connection, secret: str | None = None) -> None:
        """Save ``connection`` (replacing one of that name); ``secret`` goes into the OS
        keyring, never into the file."""
        if secret:
            store_secret(connection.keyring_user, secret)
        document = self._document()
        tables = dict(document.get("connections") or {})
        tables[connection.name] = _table(connection)
        self._write(document.get("default_connection"), tables)

    def remove(self, name: str) -> Connection:
        """Remove the connection ``name`` from the file (its keyring secret stays)."""
        removed = self.get(name)
        document = self._document()
        tables = {k: v for k, v in (document.get("connections") or {}).items() if k != name}
        default = document.get("default_connection")
        self._write(None if default == name else default, tables)
        return removed

    def _write(self, default: str | None, tables: dict[str, Any]) -> None:
        lines = []
        if default:
            lines += [f"default_connection = {_toml_string(default)}", ""]
        for name, table in tables.items():
            lines.append(f"[connections.{_toml_key(name)}]")
            lines += [f"{key} = {_toml_string(str(value))}" for key, value in table.items()]
            lines.append("")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The file is written anew: readable by its owner alone, whatever it held.
        temporary = self.path.with_suffix(".toml.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines))
        os.replace(temporary, self.path)


def _table(connection: Connection) -> dict[str, str]:
    table = {"client_id": connection.client_id}
    if connection.login_url != DEFAULT_LOGIN_URL:
        table["login_url"] = connection.login_url
    if connection.api_url != DEFAULT_API_URL:
        table["api_url"] = connection.api_url
    if connection.scope != DEFAULT_SCOPE:
        table["scope"] = connection.scope
    if connection.client_secret_env:
        table["client_secret_env"] = connection.client_secret_env
    return table


def _toml_string(value: str) -> str:
    # A JSON string is a TOML basic string: the same quotes and escapes.
    return json.dumps(value, ensure_ascii=False)


def _toml_key(name: str) -> str:
    bare = name.replace("-", "").replace("_", "")
    return name if bare.isalnum() and name.isascii() else _toml_string(name)
