"""The IPython magics: parse the magic line, call the session's client, hand back the result.

Nothing here talks HTTP, builds queries or decides how to log in: that is ``ElfsquadClient``
(every magic calls only its public methods), ``cell.parse_request``, ``arguments`` (the lines'
options and which go together) and ``login`` (where credentials come from). The settings are
in ``traits``.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pandas as pd
from IPython.core.magic import (
    Magics,
    cell_magic,
    line_cell_magic,
    line_magic,
    magics_class,
    no_var_expand,
)
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display
from traitlets import observe

from ..core.environment import ENV_CLIENT_ID
from ..core.odata import DEFAULT_SCOPE
from ..core.settings import OUTPUTS
from ..errors import InterpolationError, UsageError
from ..fetch.options import FetchOptions
from .arguments import (
    check_combinations,
    check_out_name,
    connection_argument,
    option_names,
    parse_line,
    parse_request_line,
    positive_int,
    usage_hint,
    value_options,
)
from .cell import parse_request
from .connection_magics import ConnectionMagics
from .display import install_display, uninstall_display
from .login import LoginFlow
from .output import keep_result, status_line
from .session import ElfsquadSession
from .traits import CELL_SETTINGS, MagicSettings
from .view_magics import ViewMagics

__all__ = ["ElfsquadMagic", "bodyless_cell_as_line", "load", "unload"]


@magics_class
class ElfsquadMagic(MagicSettings, Magics):
    """Query the Elfsquad APIs from IPython; the traits are settings for `%config ElfsquadMagic`.

    Hosts, scope, timeout, retries, keep_secret and calls_per_minute take effect at the next
    `%elfsquad_login`; dtype_backend, output, progress and concurrency at the next query.
    """

    def __init__(self, shell: Any = None, session: ElfsquadSession | None = None, **kw: Any):
        super().__init__(shell=shell, **kw)
        self.session = session if session is not None else ElfsquadSession()
        self.form: Any = None  # the last login form shown, so it can be reached from code
        self.completer_handle: Any = None
        self.display_previous: Any = None  # the DataFrame HTML printer before load, if any

    # -- settings ---------------------------------------------------------------------------

    @observe(*CELL_SETTINGS)
    def _cell_setting_changed(self, change: dict[str, Any]) -> None:
        # Applies to the next cell at once; the other settings wait for the next login.
        self.session.configure(**{change["name"]: change["new"]})

    def _login_flow(self) -> LoginFlow:
        """The login decisions over this session, shell and the settings as they are now."""
        return LoginFlow(self.session, self.shell, self)

    def _mirror_client(self, args: Any) -> Any:
        """The named connection's client; or (offline, none named) the logged-in client, else
        one that reads this host's mirror offline."""
        if args.connection is not None or not getattr(args, "offline", True):
            return self.session.require_client(args.connection)
        hosts = self._login_flow().hosts()
        client_id = os.environ.get(ENV_CLIENT_ID, "").strip() or None
        return self.session.mirror_client(hosts["api_url"], client_id, self.client_settings())

    # -- login ------------------------------------------------------------------------------

    @magic_arguments()
    @argument(
        "--demo",
        action="store_true",
        help="Start the offline sandbox in this kernel (on a free loopback port) and log in "
        "to it with its demo client. No credentials needed.",
    )
    @argument(
        "--form",
        action="store_true",
        help="Show the login form even when ELFSQUAD_* credentials are set.",
    )
    @argument(
        "--scim",
        action="store_true",
        help="Set the SCIM API's own token (made in Elfsquad's SCIM settings) for /scim/2/ "
        "requests: from ELFSQUAD_SCIM_TOKEN, else asked for without echo. The OAuth login "
        "stays as it is; its token is never sent to /scim/.",
    )
    @argument(
        "--keyring",
        action="store_true",
        help="Use the client secret stored in the OS keyring for this client id; when there is "
        "none, log in as usual and store it there. Off by default: the secret is otherwise "
        "never written anywhere.",
    )
    @argument(
        "--client-id",
        dest="client_id",
        metavar="ID",
        help="The OpenId client id (not secret), e.g. to find its secret in the keyring.",
    )
    @argument("--scope", metavar="SCOPE", help=f"OAuth scope (default {DEFAULT_SCOPE}).")
    @argument("--login-url", dest="login_url", metavar="URL", help="Token host.")
    @argument("--api-url", dest="api_url", metavar="URL", help="API host.")
    @argument(
        "-c",
        "--connection",
        metavar="NAME",
        help="Log in with a named connection of connections.toml (its secret from the OS "
        "keyring, the environment or the file); it becomes the current connection.",
    )
    @line_magic
    def elfsquad_login(self, line: str) -> None:
        """Log in to Elfsquad with an OpenId client (client credentials).

        With ELFSQUAD_CLIENT_ID and ELFSQUAD_CLIENT_SECRET set, logs in at once. Otherwise it
        shows a form in a notebook, or asks in terminal IPython (the secret through getpass).
        Where nobody can answer (nbclient, papermill) it fails at once. There is deliberately
        no option for the secret: the magic line is saved in the notebook and the history.
        With --keyring (opt-in) the secret is read from the OS keyring, or stored there after
        a successful login; %elfsquad_logout --keyring removes it.
        """
        args = parse_line(self.elfsquad_login, line)
        if args.demo and args.form:
            raise UsageError("--demo and --form cannot be combined.", "Use one of them.")
        flow = self._login_flow()
        if args.demo:
            print(flow.login_demo(args.scope))
            return
        if args.scim:
            if args.form or args.keyring:
                raise UsageError("--scim takes no --form or --keyring.", "Use it on its own.")
            print(flow.login_scim(args.api_url))
            return
        result = flow.run(
            form=args.form,
            keyring=args.keyring or self.use_keyring,
            client_id=args.client_id,
            scope=args.scope,
            login_url=args.login_url,
            api_url=args.api_url,
            connection=args.connection,
        )
        if isinstance(result, str):
            print(result)
        else:
            self.form = result
            display(self.form)

    @magic_arguments()
    @argument(
        "--keyring",
        action="store_true",
        help="Also remove this client's secret from the OS keyring.",
    )
    @argument(
        "--client-id",
        dest="client_id",
        metavar="ID",
        help="Whose keyring secret to remove (default: the logged-in client).",
    )
    @connection_argument
    @line_magic
    def elfsquad_logout(self, line: str = "") -> None:
        """Forget the token and the secret held in this kernel (and, with --keyring, the
        secret stored in the OS keyring)."""
        args = parse_line(self.elfsquad_logout, line)
        current = self.session.clients.get(args.connection or self.session.current or "")
        client_id = args.client_id or (current.client_id if current is not None else None)
        was_logged_in = self.session.logout(args.connection)
        print("Logged out of Elfsquad." if was_logged_in else "Not logged in to Elfsquad.")
        if args.keyring:
            print(self._login_flow().forget_keyring_secret(client_id))

    @magic_arguments()
    @connection_argument
    @line_magic
    def elfsquad_status(self, line: str = "") -> None:
        """Say who is logged in, where and until when, for the current connection (or the one
        named); never the token."""
        args = parse_line(self.elfsquad_status, line)
        print(self.session.status(args.connection))

    # -- requests ---------------------------------------------------------------------------

    @no_var_expand
    @magic_arguments()
    @argument(
        "-o",
        "--out",
        metavar="NAME",
        help="Also store the result in the variable NAME; a document (a PDF) given a file "
        "name (-o offer.pdf) is written to that file instead.",
    )
    @argument(
        "--limit", type=positive_int, metavar="N", help="Stop after N rows (GET collections)."
    )
    @argument(
        "--no-paginate",
        dest="no_paginate",
        action="store_true",
        help="Take the first page only; do not follow @odata.nextLink.",
    )
    @argument(
        "--raw",
        action="store_true",
        help="Return the parsed JSON (or text/bytes for other answers) instead of a DataFrame.",
    )
    @argument(
        "--json",
        metavar="VAR",
        help="Send the Python dict/list (or DataFrame, as records) in VAR as the JSON body.",
    )
    @argument(
        "--file",
        metavar="PATH",
        help="Upload the file at PATH as multipart/form-data (POST or PUT), e.g. to "
        "/quotation/1/quotations/{{id}}/addfile.",
    )
    @argument(
        "--concurrency",
        type=positive_int,
        metavar="N",
        help="Pages fetched at the same time, fixed for this request (default: found by "
        "itself, or %%config ElfsquadMagic.concurrency).",
    )
    @argument(
        "--output",
        choices=OUTPUTS,
        metavar="TYPE",
        help="The result as pandas, polars or arrow (a pyarrow.Table) for this cell "
        "(default: %%config ElfsquadMagic.output).",
    )
    @argument(
        "--no-progress",
        dest="no_progress",
        action="store_true",
        help="No progress bar for this request.",
    )
    @argument(
        "--dry-run",
        dest="dry_run",
        action="store_true",
        help="Show the request (method, decoded URL, JSON body, records) and send nothing.",
    )
    @argument(
        "--preview",
        action="store_true",
        help="PATCH/PUT of one record, DELETE, a bulk action: read the records and return "
        "the change (key, property, before, after) as a DataFrame; nothing is written.",
    )
    @argument(
        "--sync",
        action="store_true",
        help="GET /data/1/<Set> from the local mirror: the whole set, as a full GET returns "
        "it, after reading only what changed since the last sync ($select only).",
    )
    @argument("--full", action="store_true", help="With --sync: rebuild the mirror in full.")
    @argument(
        "--offline",
        action="store_true",
        help="With --sync: read the mirror as it is, without any network.",
    )
    @connection_argument
    @line_cell_magic
    def elfsquad(self, line: str, cell: str | None = None) -> Any:
        """Call an Elfsquad API and return a pandas DataFrame.

        Usage: %%elfsquad [options] [METHOD] PATH, then for GET one query option per line
        ($filter=..., $select=..., $expand=..., $orderby=..., $top=..., name=value; blank lines
        and # comments ignored), or for POST/PATCH/PUT a JSON body. METHOD is GET (default),
        POST, PATCH, PUT or DELETE; PATH is a path on the API host (/data/1/features) or a
        full URL on it, with an optional query string. The line magic takes the same
        arguments: features = %elfsquad GET /data/1/features?$top=10

        {{name}} puts the Python value of name into the line or body (an OData literal inside
        $filter: strings quoted, dates ISO 8601). IPython's own $var and {var} expansion is
        off, so $filter reaches the server as written.

        A collection returns one DataFrame with all pages; a single entity a one-row
        DataFrame; a 204 answer None.
        """
        args, request_text = parse_request_line(self.elfsquad, line)
        check_out_name(args.out, "%%elfsquad -o features GET /data/1/features", files=True)
        if not request_text.strip():
            raise UsageError("The magic line has no PATH.", usage_hint(self.elfsquad))
        check_combinations(args)
        namespace = self.shell.user_ns
        extra = {"json_value": self._json_variable(args.json)} if args.json is not None else {}
        request = parse_request(request_text, cell or "", namespace, **extra)
        if args.file is not None:
            request = request.with_upload(args.file)
        if args.sync:
            client = self._mirror_client(args)
            result = client.sync(request, full=args.full, offline=args.offline, output=args.output)
            print(client.last_sync)
            return keep_result(namespace, args.out, result)
        client = self.session.require_client(args.connection)
        if args.dry_run:
            print(client.dry_run(request))
            return None
        if args.preview:
            return keep_result(namespace, args.out, client.preview(request))
        options = FetchOptions(
            limit=args.limit,
            paginate=not args.no_paginate,
            raw=args.raw,
            progress=False if args.no_progress else None,
            concurrency=args.concurrency or self.concurrency,
            output=args.output,
        )
        answer = client.fetch(request, options)
        if answer.value is None:
            print(status_line(answer))
        return keep_result(namespace, args.out, answer.value)

    def _json_variable(self, name: str) -> Any:
        if name not in self.shell.user_ns:
            raise InterpolationError(
                f"--json {name}: there is no variable named {name!r}.",
                "Define it in a cell before this one, e.g. body = {'name': 'New feature'}.",
            )
        return self.shell.user_ns[name]

    # -- writes: the journal and undo -------------------------------------------------------

    @magic_arguments()
    @argument("write_id", nargs="?", metavar="ID", help="The write to undo (default: the latest).")
    @argument(
        "--force",
        action="store_true",
        help="Undo even records someone changed since the write (their later changes to the "
        "same records are overwritten).",
    )
    @argument("--dry-run", dest="dry_run", action="store_true", help="Show the undo's requests.")
    @argument("--preview", action="store_true", help="Return the undo's change as a DataFrame.")
    @connection_argument
    @line_magic
    def elfsquad_undo(self, line: str = "") -> Any:
        """Revert the latest write not yet undone (or the write ID of %elfsquad_journal).

        Changed properties are patched back, deleted records re-created with their keys and
        values, created ones deleted; a bulk write is undone whole (a partial one: the part
        that was applied). Records someone changed since stop it with a ConflictError, unless
        --force. The undo is journaled too: undoing it makes the write again.
        """
        args = parse_line(self.elfsquad_undo, line)
        check_combinations(args)
        client = self.session.require_client(args.connection)
        result = client.undo(
            args.write_id, force=args.force, dry_run=args.dry_run, preview=args.preview
        )
        if isinstance(result, str):
            print(result)
            return None
        return result

    @magic_arguments()
    @connection_argument
    @line_magic
    def elfsquad_journal(self, line: str = "") -> Any:
        """The writes made through this client (also in earlier kernels), as a DataFrame: id,
        when, method, path, records, outcome, undone."""
        args = parse_line(self.elfsquad_journal, line)
        return self.session.require_client(args.connection).journal.frame()

    # -- the mirror -------------------------------------------------------------------------

    @no_var_expand
    @magic_arguments()
    @argument(
        "--offline",
        action="store_true",
        help="Query the mirror as it is, without syncing (no network).",
    )
    @argument("-o", "--out", metavar="NAME", help="Also store the result in the variable NAME.")
    @connection_argument
    @argument(
        "--output",
        choices=OUTPUTS,
        metavar="TYPE",
        help="The result as pandas, polars or arrow (default: %%config ElfsquadMagic.output).",
    )
    @cell_magic
    def elfsquad_sql(self, line: str, cell: str) -> Any:
        """DuckDB SQL across the mirrored entity sets; returns a DataFrame.

        Name the Data API's sets as tables, in any casing:
        SELECT f.name, sum(l.quantity) FROM QuotationLines l JOIN features f ON f.id = l.featureId
        GROUP BY 1. Each set the query names is synced first (only what changed is read),
        unless --offline. {{name}} passes the Python value of name as a DuckDB parameter
        (never pasted into the SQL). A notebook DataFrame can be named as a table too.
        Needs DuckDB: pip install 'elfsquad-magic[sql]'.
        """
        from ..store.sql import missing_variable, placeholders_as_parameters

        args = parse_line(self.elfsquad_sql, line)
        check_out_name(args.out, "%%elfsquad_sql -o result")
        namespace = self.shell.user_ns

        def lookup(name: str) -> Any:
            if name not in namespace:
                raise missing_variable(name)
            return namespace[name]

        query, params = placeholders_as_parameters(cell, lookup)
        frames = {k: v for k, v in namespace.items() if _is_table(v)}
        client = self._mirror_client(args)
        result = client.sql(
            query, params, offline=args.offline, frames=frames, report=print, output=args.output
        )
        return keep_result(namespace, args.out, result)

    @magic_arguments()
    @argument("--drop", metavar="SET", help="Remove the mirror of SET.")
    @connection_argument
    @line_magic
    def elfsquad_mirror(self, line: str = "") -> Any:
        """List the mirrored sets (rows, last sync, watermark, size on disk) as a DataFrame;
        --drop SET removes one."""
        from ..store.mirror import mirror_listing

        args = parse_line(self.elfsquad_mirror, line)
        mirror = self._mirror_client(args).mirror
        if args.drop:
            name = mirror.find(args.drop)
            if name is None or not mirror.drop(name):
                raise UsageError(
                    f"There is no mirror of {args.drop} to drop.",
                    "%elfsquad_mirror lists the mirrored sets.",
                )
            print(f"Dropped the mirror of {name}.")
            return None
        return mirror_listing(mirror)

    # -- exploring --------------------------------------------------------------------------

    @magic_arguments()
    @argument("--count", action="store_true", help="Add each entity set's row count.")
    @connection_argument
    @line_magic
    def elfsquad_entities(self, line: str = "") -> Any:
        """List the Data API's entity sets as a DataFrame."""
        args = parse_line(self.elfsquad_entities, line)
        from .explore import entities_frame

        return entities_frame(self.session.require_client(args.connection), count=args.count)

    @magic_arguments()
    @argument(
        "entity_set",
        metavar="SET|API",
        help="An entity set (features), or the Quotation or Configurator API or one of its "
        "paths (/quotation/1, /configurator/3/configurator/new/E-Bike).",
    )
    @connection_argument
    @line_magic
    def elfsquad_describe(self, line: str = "") -> Any:
        """An entity set's properties and their types as a DataFrame; or the operations of the
        Quotation or Configurator API, or the parameters, body and answer fields of one."""
        args = parse_line(self.elfsquad_describe, line)
        from .explore_apis import api_of, describe_api

        if api_of(args.entity_set) is not None:
            return describe_api(args.entity_set)
        from .explore import describe_frame

        return describe_frame(self.session.require_client(args.connection), args.entity_set)


# The option splitter must know every option by its full name: an abbreviation such as
# `--lim 5` would otherwise be taken for a flag followed by the method "5".
ElfsquadMagic.elfsquad.parser.allow_abbrev = False


def _is_table(value: Any) -> bool:
    """Whether a notebook variable is a table DuckDB can read: a pandas or polars frame, an
    Arrow table (polars is not imported for this)."""
    if isinstance(value, pd.DataFrame):
        return True
    kind = type(value)
    return (kind.__module__, kind.__name__) in (
        ("pyarrow.lib", "Table"),
        ("polars.dataframe.frame", "DataFrame"),
    )


_CELL_MAGIC_LINE = re.compile(r"^(\s*)%%elfsquad(?=\s|$)")


def bodyless_cell_as_line(lines: list[str]) -> list[str]:
    """An input transformer: a ``%%elfsquad ...`` cell with nothing below its first line runs
    as the line magic ``%elfsquad ...``, which IPython would otherwise refuse ("the cell body
    is empty")."""
    if not lines or any(line.strip() for line in lines[1:]):
        return lines
    match = _CELL_MAGIC_LINE.match(lines[0])
    if match is None:
        return lines
    return [match.group(1) + "%elfsquad" + lines[0][match.end() :]]


# IPython's check_complete (terminal IPython asks it whether Enter runs the input) skips the
# transforms marked so: a "%%elfsquad ..." line typed at the prompt stays an open cell until a
# blank line, as every cell magic in a terminal; Jupyter sends a cell whole, where it applies.
bodyless_cell_as_line.has_side_effects = True  # type: ignore[attr-defined]


def load(shell: Any) -> ElfsquadMagic:
    """Register the magics on the shell (and on its `%config`), install tab completion, the
    body-less cell transformer and the display of results."""
    magic = ElfsquadMagic(shell)  # Magics.__init__ adds it to shell.configurables
    shell.register_magics(magic)
    shell.register_magics(ConnectionMagics(shell, magic.session, magic._login_flow))
    shell.register_magics(ViewMagics(shell, magic._mirror_client))
    magic.display_previous = install_display(shell)
    transformers = shell.input_transformers_cleanup
    if bodyless_cell_as_line not in transformers:
        transformers.append(bodyless_cell_as_line)
    try:
        from .completion import install_completer
    except ImportError:
        pass
    else:
        magic.completer_handle = install_completer(
            shell,
            lambda: magic.session.client,
            value_options=value_options(ElfsquadMagic.elfsquad.parser),
            option_names=option_names(ElfsquadMagic.elfsquad.parser),
        )
    return magic


def unload(shell: Any) -> None:
    """Undo `load`: remove the magics and the completer, log out, stop the demo sandbox."""
    magic = shell.magics_manager.registry.pop(ElfsquadMagic.__name__, None)
    if magic is None:
        return
    others = [
        shell.magics_manager.registry.pop(kind.__name__, None)
        for kind in (ConnectionMagics, ViewMagics)
    ]
    for table in shell.magics_manager.magics.values():
        for name, function in list(table.items()):
            if getattr(function, "__self__", None) in (magic, *others):
                del table[name]
    if magic in shell.configurables:
        shell.configurables.remove(magic)
    if bodyless_cell_as_line in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(bodyless_cell_as_line)
    if magic.completer_handle is not None:
        from .completion import uninstall_completer

        uninstall_completer(shell, magic.completer_handle)
    uninstall_display(shell, magic.display_previous)
    magic.session.close()
