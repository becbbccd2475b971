"""How `%elfsquad_login` gets its credentials: demo, OS keyring, environment, form or prompt.

The magic parses its line and hands the values here; this module decides where the client id
and secret come from, logs the session in and returns the status line (or the form to show).
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import TYPE_CHECKING, Any, Protocol

from IPython.core.error import StdinNotImplementedError

from ..core.connections import ConnectionsFile
from ..core.environment import ENV_CLIENT_ID, ENV_CLIENT_SECRET
from ..core.odata import DEFAULT_API_URL, DEFAULT_LOGIN_URL, DEFAULT_SCOPE, ENV_SCIM_TOKEN
from ..errors import LoginError, UsageError
from .session import DEFAULT_CONNECTION, ElfsquadSession, login_summary

if TYPE_CHECKING:
    from .login_widget import LoginForm, LoginFunction

__all__ = ["DEMO_CONNECTION", "LoginFlow", "LoginSettings", "stdin_answerable"]

DEMO_CONNECTION = "demo"
"""The connection name of %elfsquad_login --demo."""


class LoginSettings(Protocol):
    """The `%config` settings a login reads (the magic's traits), read when the login happens."""

    login_url: str | None
    api_url: str | None
    scope: str | None

    def client_settings(self) -> dict[str, Any]:
        """The client settings by their flat names."""
        ...


def stdin_answerable(shell: Any) -> bool:
    """Whether someone can answer a prompt: a kernel whose frontend allows input, or a tty."""
    kernel = getattr(shell, "kernel", None)
    if kernel is not None:
        # ipykernel sets this per execute request; nbclient and papermill send allow_stdin=False.
        return bool(getattr(kernel, "_allow_stdin", False))
    stdin = sys.stdin
    try:
        return stdin is not None and stdin.isatty()
    except (ValueError, OSError):
        return False


def _widgets_frontend(shell: Any) -> bool:
    """Whether a login form can be shown and used: a kernel with a live frontend and ipywidgets.

    Terminal IPython has no kernel; a kernel run by nbclient/papermill refuses input, and no one
    would click a form there either.
    """
    if getattr(shell, "kernel", None) is None or not stdin_answerable(shell):
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _no_stdin_error() -> LoginError:
    return LoginError(
        "Cannot ask for the Elfsquad credentials: nobody can type input here "
        "(stdin is not available).",
        f"Set {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET} in the environment before starting, "
        "or use %elfsquad_login --demo for the offline sandbox.",
    )


def _env_credentials() -> tuple[str, str] | None:
    """ELFSQUAD_CLIENT_ID and ELFSQUAD_CLIENT_SECRET, when both are set."""
    client_id = os.environ.get(ENV_CLIENT_ID, "").strip()
    secret = os.environ.get(ENV_CLIENT_SECRET, "")
    return (client_id, secret) if client_id and secret else None


def _prompt_credentials(shell: Any, client_id: str) -> tuple[str, str]:
    """Ask in the terminal; fail at once where nobody can answer, never hang."""
    if not stdin_answerable(shell):
        raise _no_stdin_error()
    try:
        if not client_id:
            client_id = input("Elfsquad client ID: ").strip()
        secret = getpass.getpass("Elfsquad client secret: ")
    except (StdinNotImplementedError, EOFError, OSError):
        raise _no_stdin_error() from None
    except KeyboardInterrupt:
        raise LoginError("Login cancelled.") from None
    if not client_id or not secret:
        raise LoginError("No client ID or secret given; not logged in.")
    return client_id, secret


def _prompt_scim_token(shell: Any) -> str:
    """Ask for the SCIM token without echo; fail at once where nobody can answer."""
    if not stdin_answerable(shell):
        raise LoginError(
            "Cannot ask for the SCIM token: nobody can type input here (stdin is not available).",
            f"Set {ENV_SCIM_TOKEN} in the environment before starting.",
        )
    try:
        token = getpass.getpass("Elfsquad SCIM token: ").strip()
    except (StdinNotImplementedError, EOFError, OSError):
        raise LoginError(
            "Cannot ask for the SCIM token here.", f"Set {ENV_SCIM_TOKEN} in the environment."
        ) from None
    except KeyboardInterrupt:
        raise LoginError("Cancelled; no SCIM token set.") from None
    if not token:
        raise LoginError(
            "No SCIM token given.", "Make one in Elfsquad's SCIM settings and paste it here."
        )
    return token


class LoginFlow:
    """Logs a session in from the magic's arguments, the settings, the keyring or the user."""

    def __init__(self, session: ElfsquadSession, shell: Any, settings: LoginSettings) -> None:
        self.session = session
        self.shell = shell
        self.settings = settings

    def hosts(
        self, *, scope: str | None = None, login_url: str | None = None, api_url: str | None = None
    ) -> dict[str, str]:
        """Login URL, API URL and scope: the magic line, else %config, else ELFSQUAD_*, else
        the client's defaults. The environment is read now, so a variable set after
        `%load_ext` counts."""
        given = {"login_url": login_url, "api_url": api_url, "scope": scope}
        defaults = {
            "login_url": DEFAULT_LOGIN_URL,
            "api_url": DEFAULT_API_URL,
            "scope": DEFAULT_SCOPE,
        }
        return {
            name: (
                given[name]
                or getattr(self.settings, name)
                or os.environ.get(f"ELFSQUAD_{name.upper()}")
                or default
            )
            for name, default in defaults.items()
        }

    def client_options(self) -> dict[str, Any]:
        """The client settings from %config, as they are now."""
        return self.settings.client_settings()

    def login(
        self,
        client_id: str,
        client_secret: str,
        *,
        scope: str,
        login_url: str,
        api_url: str,
        connection: str = DEFAULT_CONNECTION,
    ) -> str:
        """Log the session in with these values and the settings; return the status line."""
        defaults = self.hosts()
        client = self.session.login(
            client_id,
            client_secret,
            connection=connection,
            scope=scope or defaults["scope"],
            login_url=login_url or defaults["login_url"],
            api_url=api_url or defaults["api_url"],
            **self.client_options(),
        )
        scim_token = os.environ.get(ENV_SCIM_TOKEN, "").strip()
        if scim_token:
            client.set_scim_token(scim_token)
            return f"{login_summary(client)} (SCIM token from {ENV_SCIM_TOKEN})"
        return login_summary(client)

    def login_and_remember(
        self, client_id: str, client_secret: str, *, scope: str, login_url: str, api_url: str
    ) -> str:
        """Log in, then store the secret in the OS keyring (asked for with --keyring)."""
        from ..core.keyring_secrets import store_secret

        line = self.login(
            client_id, client_secret, scope=scope, login_url=login_url, api_url=api_url
        )
        try:
            store_secret(client_id, client_secret)
        except LoginError as exc:
            return f"{line}\n{exc.message} The login itself worked."
        return f"{line} (secret stored in the OS keyring)"

    def login_from_keyring(self, client_id: str, hosts: dict[str, str]) -> str | None:
        """Log in with the secret the keyring holds for ``client_id``; None when it has none."""
        from ..core.keyring_secrets import read_secret

        secret = read_secret(client_id)
        if secret is None:
            return None
        failure: LoginError | None = None
        try:
            line = self.login(client_id, secret, **hosts)
        except LoginError as exc:
            # Raised outside the handler, so the original error (and its context) stays out.
            failure = LoginError(
                exc.message,
                f"The secret came from the OS keyring. If it is out of date, remove it with "
                f"%elfsquad_logout --keyring, then log in again. {exc.hint or ''}".rstrip(),
            )
        if failure is not None:
            raise failure
        return f"{line} (secret from the OS keyring)"

    def forget_keyring_secret(self, client_id: str | None) -> str:
        """Remove the secret the OS keyring holds for ``client_id`` (default: the client of
        ``ELFSQUAD_CLIENT_ID``); returns what was done."""
        from ..core.keyring_secrets import delete_secret

        client_id = client_id or os.environ.get(ENV_CLIENT_ID, "").strip()
        if not client_id:
            raise UsageError(
                "Whose secret should be removed from the keyring?",
                "Name the client: %elfsquad_logout --keyring --client-id ID",
            )
        if delete_secret(client_id):
            return f"Removed the secret of {client_id} from the OS keyring."
        return f"The OS keyring held no secret for {client_id}."

    def login_connection(self, name: str | None = None) -> str:
        """Log in with a connection of ``connections.toml`` (default: the default one), its
        secret from the OS keyring, the environment or the file."""
        connection, options = ConnectionsFile().login_options(name)
        line = self.login(**options, connection=connection.name)
        return f"{line} (connection {connection.name}, secret from {connection.secret_source})"

    def login_demo(self, scope: str | None = None) -> str:
        """Start (or reuse) the in-kernel sandbox and log in to it with its demo client (and
        its SCIM token)."""
        sandbox = self.session.demo_sandbox()
        line = self.login(
            sandbox.client_id,
            sandbox.client_secret,
            # The sandbox knows only the real default scope; %config/env scopes are for real hosts.
            scope=scope or DEFAULT_SCOPE,
            login_url=sandbox.login_url,
            api_url=sandbox.api_url,
            connection=DEMO_CONNECTION,
        )
        assert self.session.client is not None
        self.session.client.set_scim_token(sandbox.scim_token)
        return (
            f"{line} (demo sandbox at {sandbox.api_url}; with its SCIM token too, so "
            "%elfsquad GET /scim/2/Users lists its users)"
        )

    def login_scim(self, api_url: str | None = None) -> str:
        """Take the SCIM API's own token from ELFSQUAD_SCIM_TOKEN or a masked prompt, for
        ``/scim/2/`` requests; the OAuth login (if any) stays as it is."""
        token = os.environ.get(ENV_SCIM_TOKEN, "").strip()
        source = f"from {ENV_SCIM_TOKEN}"
        if not token:
            token = _prompt_scim_token(self.shell)
            source = "typed"
        hosts = self.hosts(api_url=api_url)
        options = {
            **self.client_options(),
            "login_url": hosts["login_url"],
            "scope": hosts["scope"],
        }
        client = self.session.set_scim_token(token, api_url=hosts["api_url"], **options)
        return (
            f"SCIM token set ({source}) for {client.api_url}: /scim/2/ requests use it; "
            "the OAuth token is never sent there."
        )

    def form(
        self,
        client_id: str,
        hosts: dict[str, str],
        login: LoginFunction | None = None,
        given: dict[str, str | None] | None = None,
    ) -> LoginForm:
        """A login form prefilled with the client id and hosts of the current login (when
        there is one), except what the magic line gave."""
        from .login_widget import LoginForm

        current = self.session.client
        if current is not None:
            client_id = client_id or current.client_id or ""
            hosts = {
                name: value if (given or {}).get(name) else getattr(current, name) or value
                for name, value in hosts.items()
            }
        saved = {
            name: (c.client_id, c.login_url, c.api_url)
            for name, c in ConnectionsFile().connections().items()
        }
        return LoginForm(
            login or self.login,
            client_id=client_id,
            saved=saved,
            login_saved=self.login_connection,
            **hosts,
        )

    def run(
        self,
        *,
        form: bool = False,
        keyring: bool = False,
        client_id: str | None = None,
        scope: str | None = None,
        login_url: str | None = None,
        api_url: str | None = None,
        connection: str | None = None,
    ) -> str | LoginForm:
        """Log in from a named connection, the keyring, the environment or a prompt and return
        the status line; or return the form to show, where one is asked for or a notebook can
        show it. Without credentials in the environment, the default connection of
        ``connections.toml`` (when there is one) logs in."""
        if connection is not None and not form:
            return self.login_connection(connection)
        hosts = self.hosts(scope=scope, login_url=login_url, api_url=api_url)
        chosen_id = (client_id or os.environ.get(ENV_CLIENT_ID, "")).strip()
        if keyring and not form:
            if not chosen_id and self.session.client is not None:
                chosen_id = self.session.client.client_id or ""
            if chosen_id:
                line = self.login_from_keyring(chosen_id, hosts)
                if line is not None:
                    return line
        login = self.login_and_remember if keyring else self.login
        env = _env_credentials()
        if env is not None and client_id and client_id.strip() != env[0]:
            env = None  # the secret in the environment belongs to another client
        given_any = client_id or scope or login_url or api_url
        if env is None and not form and not given_any and ConnectionsFile().default_name():
            return self.login_connection()
        if form or (env is None and _widgets_frontend(self.shell)):
            given = {"scope": scope, "login_url": login_url, "api_url": api_url}
            return self.form(chosen_id, hosts, login, given)
        credentials = env or _prompt_credentials(self.shell, chosen_id)
        return login(*credentials, **hosts)
