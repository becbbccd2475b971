"""The magics of several tenants in one kernel: ``%elfsquad_connections`` (list, add, remove the
named connections), ``%elfsquad_use`` (choose the current one) and ``%elfsquad_diff`` (what
differs between two).

They share the kernel's session with :class:`~.magics.ElfsquadMagic`; a secret is never typed
on a magic line: ``--add`` asks for it without echo, or names an environment variable.
"""

from __future__ import annotations

import getpass
from typing import Any

import pandas as pd
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from ..client import ElfsquadClient
from ..core.connections import Connection, ConnectionsFile
from ..core.odata import DEFAULT_API_URL, DEFAULT_LOGIN_URL, DEFAULT_SCOPE
from ..cpq.model_diff import diff_models
from ..errors import LoginError, UsageError
from ..store.diff import diff_tenants
from .arguments import check_out_name, parse_line
from .login import LoginFlow, stdin_answerable
from .output import keep_result
from .session import ElfsquadSession, format_expiry
from .view_display import unquote

__all__ = ["ConnectionMagics", "connections_frame"]


def connections_frame(session: ElfsquadSession, file: ConnectionsFile) -> pd.DataFrame:
    """The connections of the file and of the kernel: name, client id, hosts, where the secret
    comes from, logged in, token valid until, current. Never a secret."""
    saved = file.connections()
    default = file.default_name() if saved else None
    rows = []
    for name in [*saved, *(n for n in session.clients if n not in saved)]:
        client = session.clients.get(name)
        connection = saved.get(name)
        rows.append(
            {
                "name": name,
                "client_id": connection.client_id if connection else client.client_id,
                "api_url": connection.api_url if connection else client.api_url,
                "login_url": connection.login_url if connection else client.login_url,
                "secret_from": connection.secret_source if connection else "this kernel",
                "logged_in": bool(client is not None and client.logged_in),
                "token_valid_until": format_expiry(client.token_expires_at) if client else "",
                "current": name == session.current,
                "default": name == default,
            }
        )
    columns = ["name", "client_id", "api_url", "login_url", "secret_from", "logged_in"]
    columns += ["token_valid_until", "current", "default"]
    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs["elfsquad"] = {"connections": str(file.path)}
    return frame


@magics_class
class ConnectionMagics(Magics):
    """``%elfsquad_connections`` and ``%elfsquad_use`` over the kernel's session."""

    def __init__(self, shell: Any, session: ElfsquadSession, login_flow: Any) -> None:
        super().__init__(shell)
        self.session = session
        self.login_flow = login_flow  # makes the LoginFlow of the settings as they are now

    @magic_arguments()
    @argument("--add", metavar="NAME", help="Save a connection under NAME.")
    @argument("--remove", metavar="NAME", help="Remove the connection NAME from the file.")
    @argument("--client-id", dest="client_id", metavar="ID", help="With --add: its client id.")
    @argument("--api-url", dest="api_url", metavar="URL", help="With --add: its API host.")
    @argument("--login-url", dest="login_url", metavar="URL", help="With --add: its token host.")
    @argument("--scope", metavar="SCOPE", help=f"With --add: the scope (default {DEFAULT_SCOPE}).")
    @argument(
        "--secret-env",
        dest="secret_env",
        metavar="VAR",
        help="With --add: read the secret from the environment variable VAR at login, instead "
        "of storing it in the OS keyring (asked for without echo).",
    )
    @argument(
        "--keyring",
        action="store_true",
        help="With --remove: also remove the connection's secret from the OS keyring.",
    )
    @line_magic
    def elfsquad_connections(self, line: str = "") -> Any:
        """The named connections (connections.toml and this kernel's logins) as a DataFrame;
        --add NAME saves one (its secret into the OS keyring, asked for without echo), --remove
        NAME removes one. Never shows a secret."""
        args = parse_line(self.elfsquad_connections, line)
        file = ConnectionsFile()
        if args.add and args.remove:
            raise UsageError("--add and --remove cannot be combined.", "Use one of them.")
        if args.add:
            print(self._add(file, args))
            return None
        if args.remove:
            removed = file.remove(args.remove)
            said = f"Removed the connection {removed.name} from {file.path}."
            if args.keyring:
                from ..core.keyring_secrets import delete_secret

                if delete_secret(removed.keyring_user):
                    said += f" Its secret ({removed.keyring_user}) left the OS keyring."
            print(said)
            return None
        return connections_frame(self.session, file)

    def _add(self, file: ConnectionsFile, args: Any) -> str:
        if not args.client_id:
            raise UsageError(
                "--add needs the connection's client id.",
                f"For example: %elfsquad_connections --add {args.add} --client-id ID",
            )
        connection = Connection(
            args.add,
            args.client_id.strip(),
            login_url=args.login_url or DEFAULT_LOGIN_URL,
            api_url=args.api_url or DEFAULT_API_URL,
            scope=args.scope or DEFAULT_SCOPE,
            client_secret_env=args.secret_env,
        )
        secret = None if args.secret_env else self._ask_secret(connection)
        file.add(connection, secret)
        where = f"${args.secret_env}" if args.secret_env else "the OS keyring"
        return (
            f"Saved the connection {connection.name} ({connection.client_id} at "
            f"{connection.api_url}) in {file.path}; its secret comes from {where}. "
            f"Log in with %elfsquad_login --connection {connection.name}."
        )

    def _ask_secret(self, connection: Connection) -> str:
        if not stdin_answerable(self.shell):
            raise LoginError(
                "Cannot ask for the secret here: nobody can type input.",
                "Run the cell in a notebook or terminal, or name an environment variable with "
                "--secret-env VAR.",
            )
        try:
            secret = getpass.getpass(f"Client secret of {connection.client_id}: ").strip()
        except (EOFError, KeyboardInterrupt):
            raise LoginError("Cancelled; nothing was saved.") from None
        if not secret:
            raise LoginError("No secret given; nothing was saved.")
        return secret

    @magic_arguments()
    @argument("first", metavar="FIRST", help="A connection (e.g. test).")
    @argument("second", metavar="SECOND", help="Another connection (e.g. prod).")
    @argument(
        "entity_set", metavar="SET", nargs="?", help="The entity set to compare, e.g. Features."
    )
    @argument(
        "--model",
        metavar="NAME",
        help="Compare a feature model's tree instead (its root feature's name or article "
        "code): nodes matched by their path.",
    )
    @argument(
        "--on",
        metavar="COLUMNS",
        help="The properties that match rows across tenants, comma-separated (a key that "
        "survives copying, e.g. articleCode); default: the set's key.",
    )
    @argument(
        "--ignore",
        metavar="COLUMNS",
        help="Properties left out of the comparison, comma-separated (ids and stamps always "
        "are, unless matched on).",
    )
    @argument(
        "--offline", action="store_true", help="Compare the mirrors as they are (no network)."
    )
    @argument("-o", "--out", metavar="NAME", help="Also store the differences in NAME.")
    @line_magic
    def elfsquad_diff(self, line: str = "") -> Any:
        """What differs in an entity set (or a feature model, --model) between two tenants:
        rows only in one, and each changed property with both values, from both mirrors
        (synced first unless --offline); a summary line says it in short."""
        args = parse_line(self.elfsquad_diff, line)
        check_out_name(args.out, "%elfsquad_diff -o differences test prod Features")
        if (args.entity_set is None) == (args.model is None):
            raise UsageError(
                "Name an entity set or a --model to compare, not both.",
                '%elfsquad_diff test prod Features, or %elfsquad_diff test prod --model "E-Bike".',
            )
        if args.model is not None and args.on:
            raise UsageError("A model's nodes are matched by their path: --on is for sets.")
        first = self._tenant(args.first, args.offline)
        second = self._tenant(args.second, args.offline)
        on = [c.strip() for c in args.on.split(",") if c.strip()] if args.on else None
        ignore = [c.strip() for c in (args.ignore or "").split(",") if c.strip()]
        if args.model is not None:
            model = unquote(args.model)
            frame, summary = diff_models(first, second, model, ignore=ignore, offline=args.offline)
            print(frame.attrs["elfsquad"]["diff"]["summary"])
            return keep_result(self.shell.user_ns, args.out, frame)
        frame, summary = diff_tenants(
            first, second, args.entity_set, on=on, ignore=ignore, offline=args.offline
        )
        print(summary)
        return keep_result(self.shell.user_ns, args.out, frame)

    def _tenant(self, name: str, offline: bool) -> Any:
        """The client of a connection; offline and not logged in, one that reads its mirror."""
        client = self.session.clients.get(name)
        if client is not None or not offline:
            return client or self.session.require_client(name)
        connection = ConnectionsFile().get(name)
        options = self.login_flow().client_options()  # the mirror folder of %config too
        reader = ElfsquadClient(connection.client_id, api_url=connection.api_url, **options)
        reader.connection = name
        return reader

    @magic_arguments()
    @argument("connection", metavar="NAME", help="The connection to make current.")
    @line_magic
    def elfsquad_use(self, line: str = "") -> None:
        """Make a connection the current one (the magics use it when none is named); a saved
        connection that is not logged in yet logs in."""
        args = parse_line(self.elfsquad_use, line)
        name = args.connection
        if name in self.session.clients:
            client = self.session.use(name)
            print(f"Using {name}: {client.client_id} at {client.api_url}.")
            return
        flow: LoginFlow = self.login_flow()
        print(flow.login_connection(name))
