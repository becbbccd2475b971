"""The IPython magics: parse the magic line, call the session's client, hand back the result.

Nothing here talks HTTP, builds queries or decides how to log in; that is `ElfsquadClient`,
`cell.parse_request` and `login_flow`.
"""

from __future__ import annotations

import argparse
import keyword
import os
import re
from argparse import Namespace
from typing import Any

import pandas as pd
from IPython.core.error import UsageError as IPythonUsageError
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
from traitlets import Bool, Enum, Float, Int, Unicode, observe

from .cell import parse_request, split_magic_line
from .errors import InterpolationError, UsageError
from .login_flow import ENV_CLIENT_ID, LoginFlow
from .odata import DEFAULT_API_URL, DEFAULT_LOGIN_URL, DEFAULT_SCOPE
from .request import ODataRequest
from .session import ElfsquadSession
from .sync import DEFAULT_LOOKBACK


def value_options(parser: argparse.ArgumentParser) -> frozenset[str]:
    """The option strings of ``parser`` that take a value (``-o``, ``--limit``...)."""
    return frozenset(
        name for action in parser._actions if action.nargs != 0 for name in action.option_strings
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


_positive_int.__name__ = "positive integer"  # argparse names the type in its error message


@magics_class
class ElfsquadMagic(Magics):
    """Query the Elfsquad APIs from IPython; the traits are settings for `%config ElfsquadMagic`.

    Hosts, scope, timeout, retries, keep_secret and calls_per_minute take effect at the next
    `%elfsquad_login`; dtype_backend, progress and concurrency at the next query.
    """

    login_url = Unicode(
        None,
        allow_none=True,
        help=f"Token host. Default: $ELFSQUAD_LOGIN_URL, else {DEFAULT_LOGIN_URL}. "
        "Used by the next %elfsquad_login.",
    ).tag(config=True)
    api_url = Unicode(
        None,
        allow_none=True,
        help=f"API host. Default: $ELFSQUAD_API_URL, else {DEFAULT_API_URL}. "
        "Used by the next %elfsquad_login.",
    ).tag(config=True)
    scope = Unicode(
        None,
        allow_none=True,
        help=f"OAuth scope. Default: $ELFSQUAD_SCOPE, else {DEFAULT_SCOPE}. "
        "Used by the next %elfsquad_login.",
    ).tag(config=True)
    timeout = Float(30.0, min=0.1, help="Seconds to wait for the server on each HTTP request.").tag(
        config=True
    )
    retry_seconds = Float(
        60.0,
        min=0.0,
        help="Total seconds a GET may spend retrying connection errors, 429 and 502/503/504.",
    ).tag(config=True)
    concurrency = Int(
        None,
        allow_none=True,
        min=1,
        help="Pages fetched at the same time when a collection has several pages. None (the "
        "default): found by itself for each API host, starting at 4, growing while the service "
        "keeps up and backing off when it queues or answers 429 (see max_concurrency). A "
        "number fixes it.",
    ).tag(config=True)
    max_concurrency = Int(
        16,
        min=1,
        help="The most pages fetched at the same time when the concurrency is found by itself.",
    ).tag(config=True)
    calls_per_minute = Int(
        None,
        allow_none=True,
        min=1,
        help="Upper bound on API calls per minute (None: no bound beyond the server's 429s).",
    ).tag(config=True)
    dtype_backend = Enum(
        [None, "numpy_nullable", "pyarrow"],
        default_value=None,
        allow_none=True,
        help='Column dtypes, as in pandas: None (NumPy), "numpy_nullable" or "pyarrow".',
    ).tag(config=True)
    progress = Bool(
        True, help="Show a progress bar when a collection spans more than one page."
    ).tag(config=True)
    keep_secret = Bool(
        True,
        help="Keep the client secret in the kernel's memory to renew the token when it expires; "
        "when False, log in again after expiry.",
    ).tag(config=True)
    mirror_dir = Unicode(
        None,
        allow_none=True,
        help="Folder of the local mirror (%elfsquad --sync, %%elfsquad_sql). Default: "
        "$ELFSQUAD_MIRROR_DIR, else the user cache folder. One folder per API host and client "
        "id inside, one Parquet file per entity set.",
    ).tag(config=True)
    sync_lookback = Float(
        DEFAULT_LOOKBACK,
        min=0.0,
        help="Seconds before the newest time stamp of a mirrored set from which a sync reads "
        "changed rows again: a change committed late (stamped before it became visible) is "
        "still found.",
    ).tag(config=True)
    journal_dir = Unicode(
        None,
        allow_none=True,
        help="Folder of the write journal (%elfsquad_journal, %elfsquad_undo). Default: "
        "$ELFSQUAD_JOURNAL_DIR, else the user data folder; one journal per API host and "
        "client id inside.",
    ).tag(config=True)
    bulk_size = Int(
        500,
        min=1,
        help="Records per request of a bulk action (--json df on .../BulkUpdate): the write "
        "goes in chunks of this size, with a progress bar.",
    ).tag(config=True)
    use_keyring = Bool(
        False,
        help="Read and store the client secret in the OS keyring (service 'elfsquad-magic'), "
        "as %elfsquad_login --keyring does. Needs pip install elfsquad-magic[keyring].",
    ).tag(config=True)

    def __init__(self, shell: Any = None, session: ElfsquadSession | None = None, **kw: Any):
        super().__init__(shell, **kw)
        self.session = session if session is not None else ElfsquadSession()
        self.form: Any = None  # the last login form shown, so it can be reached from code
        self.completer_handle: Any = None

    # -- settings ---------------------------------------------------------------------------

    @observe("dtype_backend")
    def _dtype_backend_changed(self, change: dict[str, Any]) -> None:
        # Applies to the next query at once; other settings wait for the next login.
        if self.session.client is not None:
            self.session.client.dtype_backend = change["new"]

    def _login_flow(self) -> LoginFlow:
        """The login decisions over this session, shell and the settings as they are now."""
        return LoginFlow(self.session, self.shell, self)

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
        args = self._parse(self.elfsquad_login, line)
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
    @line_magic
    def elfsquad_logout(self, line: str = "") -> None:
        """Forget the token and the secret held in this kernel (and, with --keyring, the
        secret stored in the OS keyring)."""
        args = self._parse(self.elfsquad_logout, line)
        client_id = args.client_id or (
            self.session.client.client_id if self.session.client is not None else None
        )
        was_logged_in = self.session.logout()
        print("Logged out of Elfsquad." if was_logged_in else "Not logged in to Elfsquad.")
        if args.keyring:
            client_id = client_id or os.environ.get(ENV_CLIENT_ID, "").strip()
            if not client_id:
                raise UsageError(
                    "Whose secret should be removed from the keyring?",
                    "Name the client: %elfsquad_logout --keyring --client-id ID",
                )
            from .credentials import delete_secret

            if delete_secret(client_id):
                print(f"Removed the secret of {client_id} from the OS keyring.")
            else:
                print(f"The OS keyring held no secret for {client_id}.")

    @line_magic
    def elfsquad_status(self, line: str = "") -> None:
        """Say who is logged in, where and until when (never the token)."""
        print(self.session.status())

    # -- requests ---------------------------------------------------------------------------

    @no_var_expand
    @magic_arguments()
    @argument(
        "-o",
        "--out",
        metavar="NAME",
        help="Also store the result in the variable NAME.",
    )
    @argument(
        "--limit", type=_positive_int, metavar="N", help="Stop after N rows (GET collections)."
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
        type=_positive_int,
        metavar="N",
        help="Pages fetched at the same time, fixed for this request (default: found by "
        "itself, or %%config ElfsquadMagic.concurrency).",
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
        args, request_text = self._split_request_line(line)
        self._check_out(args.out, "%%elfsquad -o features GET /data/1/features")
        if not request_text.strip():
            raise UsageError("The magic line has no PATH.", self._usage_hint(self.elfsquad))
        if (args.full or args.offline) and not args.sync:
            raise UsageError(
                "--full and --offline go with --sync.",
                "For example: %elfsquad --sync --offline GET /data/1/QuotationLines",
            )
        if args.sync:
            given = [
                option
                for option, value in (
                    ("--limit", args.limit),
                    ("--no-paginate", args.no_paginate),
                    ("--raw", args.raw),
                    ("--json", args.json),
                    ("--file", args.file),
                )
                if value
            ]
            if given:
                raise UsageError(
                    f"--sync returns the whole set as a DataFrame, so it takes no "
                    f"{', '.join(given)}.",
                    "Use them without --sync.",
                )
            result = self._sync(args, parse_request(request_text, cell or "", self.shell.user_ns))
            if args.out is not None:
                self.shell.user_ns[args.out] = result
            return result
        if args.dry_run and args.preview:
            raise UsageError("--dry-run and --preview cannot be combined.", "Use one of them.")
        client = self._write_client()
        extra: dict[str, Any] = {}
        if args.json is not None:
            extra["json_value"] = self._json_variable(args.json)
        request = parse_request(request_text, cell or "", self.shell.user_ns, **extra)
        if args.file is not None:
            request = ODataRequest.build(
                request.method, request.path, request.options, request.body, args.file
            )
        if args.dry_run or args.preview:
            from .journaled import JournaledWriter

            writer = JournaledWriter(client)
            if args.dry_run:
                print(writer.dry_run(request))
                return None
            result = writer.preview(request)
            if args.out is not None:
                self.shell.user_ns[args.out] = result
            return result
        result = client.send(
            request,
            limit=args.limit,
            paginate=not args.no_paginate,
            raw=args.raw,
            progress=False if args.no_progress else self.progress,
            concurrency=args.concurrency or self.concurrency,
        )
        if result is None:
            status, reason = client.last_status or (204, "No Content")
            empty = "" if status == 204 else " (empty body)"
            print(f"{request.method} {request.path}: {status} {reason}{empty}".rstrip())
        if args.out is not None:
            self.shell.user_ns[args.out] = result
        return result

    # -- the mirror -------------------------------------------------------------------------

    def _sync(self, args: Namespace, request: ODataRequest) -> Any:
        """``%elfsquad --sync``: the whole set from the mirror, brought up to date first."""
        if request.method != "GET" or not request.is_data_collection:
            raise UsageError(
                "--sync reads a whole Data API entity set: GET /data/1/<Set>.",
                "For example: %elfsquad --sync GET /data/1/QuotationLines",
            )
        others = [name for name, _ in request.options if name.lower() != "$select"]
        if others:
            raise UsageError(
                f"--sync returns the whole set, so it takes no {', '.join(others)}.",
                "Filter, sort and join the synced sets with %%elfsquad_sql (DuckDB SQL over "
                "the mirror), or with pandas on the result.",
            )
        if args.full and args.offline:
            raise UsageError("--full reads the service; --offline does not.", "Use one of them.")
        if request.option("$select") is not None and request.selected is None:
            raise UsageError(
                "--sync takes a $select of property names only.",
                "For example: $select=name,salesPrice",
            )
        if args.offline:
            from .sync import read_mirrored

            frame, report = read_mirrored(
                self._mirror(), request.entity_set or "", request.selected, self.dtype_backend
            )
            frame.attrs["elfsquad"] = {"sync": report.as_dict()}
        else:
            client = self._mirror_client()
            frame = client.sync(request.entity_set or "", select=request.selected, full=args.full)
            report = client.last_sync
        print(report)
        return frame

    def _write_client(self) -> Any:
        """The logged-in client, with the journal settings as they are now."""
        client = self.session.require_client()
        client.journal_dir = self.journal_dir
        client.bulk_size = self.bulk_size
        return client

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
    @line_magic
    def elfsquad_undo(self, line: str = "") -> Any:
        """Revert the latest write not yet undone (or the write ID of %elfsquad_journal).

        Changed properties are patched back, deleted records re-created with their keys and
        values, created ones deleted; a bulk write is undone whole (a partial one: the part
        that was applied). Records someone changed since stop it with a ConflictError, unless
        --force. The undo is journaled too: undoing it makes the write again.
        """
        args = self._parse(self.elfsquad_undo, line)
        if args.dry_run and args.preview:
            raise UsageError("--dry-run and --preview cannot be combined.", "Use one of them.")
        client = self._write_client()
        result = client.undo(
            args.write_id, force=args.force, dry_run=args.dry_run, preview=args.preview
        )
        if isinstance(result, str):
            print(result)
            return None
        return result

    @magic_arguments()
    @line_magic
    def elfsquad_journal(self, line: str = "") -> Any:
        """The writes made through this client (also in earlier kernels), as a DataFrame: id,
        when, method, path, records, outcome, undone."""
        self._parse(self.elfsquad_journal, line)
        return self._write_client().journal.frame()

    def _mirror_client(self) -> Any:
        """The logged-in client, with the mirror settings as they are now."""
        client = self.session.require_client()
        client.mirror_dir = self.mirror_dir
        client.sync_lookback = self.sync_lookback
        return client

    def _mirror(self) -> Any:
        """This tenant's mirror: the logged-in client's, else the one the settings point to
        (offline, no login needed)."""
        from .mirror import Mirror, default_mirror_dir

        root = self.mirror_dir or default_mirror_dir()
        client = self.session.client
        if client is not None and client.client_id:
            return Mirror(root, client.api_url, client.client_id)
        hosts = self._login_flow().hosts()
        return Mirror.locate(root, hosts["api_url"], os.environ.get(ENV_CLIENT_ID, "").strip())

    @no_var_expand
    @magic_arguments()
    @argument(
        "--offline",
        action="store_true",
        help="Query the mirror as it is, without syncing (no network).",
    )
    @argument("-o", "--out", metavar="NAME", help="Also store the result in the variable NAME.")
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
        from .sql import missing_variable, placeholders_as_parameters, run_sql

        args = self._parse(self.elfsquad_sql, line)
        self._check_out(args.out, "%%elfsquad_sql -o result")
        namespace = self.shell.user_ns

        def lookup(name: str) -> Any:
            if name not in namespace:
                raise missing_variable(name)
            return namespace[name]

        query, params = placeholders_as_parameters(cell, lookup)
        frames = {k: v for k, v in namespace.items() if isinstance(v, pd.DataFrame)}
        if args.offline:
            result = run_sql(
                None, query, params, offline=True, mirror=self._mirror(), frames=frames
            )
        else:
            client = self._mirror_client()
            result = run_sql(
                client, query, params, mirror=client.mirror, frames=frames, report=print
            )
        if args.out is not None:
            namespace[args.out] = result
        return result

    @magic_arguments()
    @argument("--drop", metavar="SET", help="Remove the mirror of SET.")
    @line_magic
    def elfsquad_mirror(self, line: str = "") -> Any:
        """List the mirrored sets (rows, last sync, watermark, size on disk) as a DataFrame;
        --drop SET removes one."""
        args = self._parse(self.elfsquad_mirror, line)
        mirror = self._mirror()
        if args.drop:
            name = mirror.find(args.drop)
            if name is None or not mirror.drop(name):
                raise UsageError(
                    f"There is no mirror of {args.drop} to drop.",
                    "%elfsquad_mirror lists the mirrored sets.",
                )
            print(f"Dropped the mirror of {name}.")
            return None
        from .mirror import mirror_listing

        return mirror_listing(mirror)

    def _check_out(self, name: str | None, example: str) -> None:
        if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
            raise UsageError(
                f"-o/--out needs a Python variable name, not {name!r}.",
                f"For example: {example}",
            )

    def _json_variable(self, name: str) -> Any:
        if name not in self.shell.user_ns:
            raise InterpolationError(
                f"--json {name}: there is no variable named {name!r}.",
                "Define it in a cell before this one, e.g. body = {'name': 'New feature'}.",
            )
        return self.shell.user_ns[name]

    def _split_request_line(self, line: str) -> tuple[Namespace, str]:
        """The leading option tokens parsed, and the raw rest of the line, quotes intact."""
        parser = self.elfsquad.parser
        split = split_magic_line(line, value_options(parser))
        try:
            args = parser.parse_args(list(split.options))
        except IPythonUsageError as exc:
            raise UsageError(f"%elfsquad: {exc}", self._usage_hint(self.elfsquad)) from None
        return args, line[split.request_start :]

    def _parse(self, magic: Any, line: str) -> Namespace:
        try:
            return magic.parser.parse_argstring(line)
        except ValueError as exc:  # shlex: an unbalanced quote
            raise UsageError(f"{exc}.", self._usage_hint(magic)) from None
        except IPythonUsageError as exc:
            message = str(exc)
            if message.startswith("unrecognized arguments:"):
                # Name the unknown options only: their values may be a secret typed by mistake.
                words = message.split(":", 1)[1].split()
                options = [w.split("=", 1)[0] for w in words if w.startswith("-")]
                message = f"unknown option {' '.join(options)}" if options else "unexpected text"
                if any("secret" in option for option in options):
                    raise UsageError(
                        "There is no option for the client secret: the magic line is saved in "
                        "the notebook and the history.",
                        "Type it into the login form, or set ELFSQUAD_CLIENT_SECRET.",
                    ) from None
            raise UsageError(f"{message}.", self._usage_hint(magic)) from None

    @staticmethod
    def _usage_hint(magic: Any) -> str:
        name = magic.__name__
        # IPython formats usage as reStructuredText ("::" and an indent); a hint wants one line.
        usage = " ".join(magic.parser.format_usage().replace("::", " ").split())
        return f"{usage}  (details: %{name}?)"

    # -- exploring --------------------------------------------------------------------------

    @magic_arguments()
    @argument("--count", action="store_true", help="Add each entity set's row count.")
    @line_magic
    def elfsquad_entities(self, line: str = "") -> Any:
        """List the Data API's entity sets as a DataFrame."""
        args = self._parse(self.elfsquad_entities, line)
        client = self.session.require_client()
        from .explore import entities_frame

        return entities_frame(client, count=args.count)

    @magic_arguments()
    @argument("entity_set", metavar="SET", help="Entity-set name, e.g. features.")
    @line_magic
    def elfsquad_describe(self, line: str = "") -> Any:
        """List an entity set's properties and their types as a DataFrame."""
        args = self._parse(self.elfsquad_describe, line)
        client = self.session.require_client()
        from .explore import describe_frame

        return describe_frame(client, args.entity_set)


# The option splitter must know every option by its full name: an abbreviation such as
# `--lim 5` would otherwise be taken for a flag followed by the method "5".
ElfsquadMagic.elfsquad.parser.allow_abbrev = False


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


def load(shell: Any) -> ElfsquadMagic:
    """Register the magics on the shell (and on its `%config`), install tab completion and
    the body-less cell transformer."""
    magic = ElfsquadMagic(shell)  # Magics.__init__ adds it to shell.configurables
    shell.register_magics(magic)
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
        )
    return magic


def unload(shell: Any) -> None:
    """Undo `load`: remove the magics and the completer, log out, stop the demo sandbox."""
    magic = shell.magics_manager.registry.pop(ElfsquadMagic.__name__, None)
    if magic is None:
        return
    for table in shell.magics_manager.magics.values():
        for name, function in list(table.items()):
            if getattr(function, "__self__", None) is magic:
                del table[name]
    if magic in shell.configurables:
        shell.configurables.remove(magic)
    if bodyless_cell_as_line in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(bodyless_cell_as_line)
    if magic.completer_handle is not None:
        from .completion import uninstall_completer

        uninstall_completer(shell, magic.completer_handle)
    magic.session.close()
