"""The ipywidgets login form shown by `%elfsquad_login` in notebooks.

The form only collects values and shows the outcome; logging in is done by the callable it is
given. The secret field is emptied as soon as it is read, whatever happens next, so the widget
state a notebook saves never carries it.
"""

from __future__ import annotations

import html
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import ipywidgets as widgets

from ..core.odata import DEFAULT_SCOPE
from ..errors import ElfsquadError

__all__ = ["LoginForm", "LoginFunction"]

_OK_STYLE = "color: #1a7f37"
_ERROR_STYLE = "color: #cf222e"
_LABEL_WIDTH = "110px"
_FIELD_WIDTH = "480px"


class LoginFunction(Protocol):
    """Logs in with the form's values and returns the status line, or raises ElfsquadError."""

    def __call__(
        self, client_id: str, client_secret: str, *, scope: str, login_url: str, api_url: str
    ) -> str: ...


def _text(widget_class: type[widgets.Text], label: str, value: str, **kwargs: Any) -> Any:
    # A fixed label width lines the fields up.
    return widget_class(
        value=value,
        description=label,
        style={"description_width": _LABEL_WIDTH},
        layout=widgets.Layout(width=_FIELD_WIDTH),
        **kwargs,
    )


def _connection_choice(names: list[str]) -> Any:
    """A dropdown of the saved connections (hidden when there are none)."""
    return widgets.Dropdown(
        options=[("type the credentials", ""), *((name, name) for name in names)],
        value="",
        description="Connection",
        style={"description_width": _LABEL_WIDTH},
        layout=widgets.Layout(width=_FIELD_WIDTH, display="" if names else "none"),
    )


class LoginForm:
    """Client ID, secret, scope, an "Advanced" part with the hosts, a Log in button and a status."""

    def __init__(
        self,
        login: LoginFunction,
        *,
        client_id: str = "",
        scope: str = DEFAULT_SCOPE,
        login_url: str = "",
        api_url: str = "",
        saved: Mapping[str, tuple[str, str, str]] | None = None,
        login_saved: Callable[[str], str] | None = None,
    ) -> None:
        self._login = login
        # Saved connections (connections.toml): name -> (client id, login URL, API URL); the
        # secret of one comes from the OS keyring, so its field stays empty.
        self._saved = dict(saved or {})
        self._login_saved = login_saved
        self.connection = _connection_choice(list(self._saved))
        self.connection.observe(self._chose_connection, names="value")
        self.client_id = _text(widgets.Text, "Client ID", client_id, placeholder="OpenId client id")
        self.client_secret = _text(widgets.Password, "Client secret", "")
        self.scope = _text(widgets.Text, "Scope", scope)
        self.login_url = _text(widgets.Text, "Login URL", login_url)
        self.api_url = _text(widgets.Text, "API URL", api_url)
        self.advanced = widgets.Accordion(
            children=[widgets.VBox([self.login_url, self.api_url])],
            titles=("Advanced",),
            selected_index=None,
            # As wide as the fields above it; the fields inside get the padding's width back.
            layout=widgets.Layout(width=_FIELD_WIDTH),
        )
        for field in (self.login_url, self.api_url):
            field.layout.width = "calc(100% - 4px)"
        self.button = widgets.Button(description="Log in", button_style="primary", icon="sign-in")
        self.status = widgets.HTML(value="")
        self.widget = widgets.VBox(
            [
                widgets.HTML("<b>Log in to Elfsquad</b>"),
                self.connection,
                self.client_id,
                self.client_secret,
                self.scope,
                self.advanced,
                self.button,
                self.status,
            ]
        )
        self.button.on_click(self._on_click)
        self._submitting = False
        # Enter in the secret field logs in, as the button does.
        with warnings.catch_warnings():
            # ipywidgets 8 marks on_submit deprecated, yet it is the one event for Enter
            # (observing the value would also log in when the field merely loses focus).
            warnings.simplefilter("ignore", DeprecationWarning)
            self.client_secret.on_submit(lambda _field: self.submit())
        # A red error stays only until the user changes something.
        for field in (self.client_id, self.client_secret, self.scope, self.login_url, self.api_url):
            field.observe(self._clear_error, names="value")

    def _chose_connection(self, change: dict[str, Any]) -> None:
        name = change["new"]
        if name:
            client_id, login_url, api_url = self._saved[name]
            self.client_id.value, self.login_url.value, self.api_url.value = (
                client_id,
                login_url,
                api_url,
            )
        self.client_secret.disabled = bool(name)
        self.client_secret.placeholder = "from the OS keyring" if name else ""

    @property
    def status_text(self) -> str:
        """The status area as plain text."""
        text = re.sub(r"<br\s*/?>", "\n", self.status.value)
        return html.unescape(re.sub(r"<[^>]+>", "", text))

    def all_widgets(self) -> list[widgets.Widget]:
        """Every widget of the form, outermost first (for inspecting their state)."""
        found: list[widgets.Widget] = []
        pending: list[widgets.Widget] = [self.widget]
        while pending:
            widget = pending.pop(0)
            found.append(widget)
            pending.extend(getattr(widget, "children", ()))
        return found

    def submit(self) -> bool:
        """Log in with the current values (what the button and Enter do); True on success."""
        # Read and clear the secret first: nothing after this may leave it in the widget.
        secret = self.client_secret.value
        self._submitting = True
        try:
            self.client_secret.value = ""
        finally:
            self._submitting = False
        if self.connection.value and self._login_saved is not None:
            return self._finish(lambda: self._login_saved(self.connection.value), secret)
        client_id = self.client_id.value.strip()
        if not client_id or not secret:
            missing = "client ID" if not client_id else "client secret"
            self._show(f"Enter the {missing} first.", ok=False)
            return False
        return self._finish(
            lambda: self._login(
                client_id,
                secret,
                scope=self.scope.value.strip(),
                login_url=self.login_url.value.strip(),
                api_url=self.api_url.value.strip(),
            ),
            secret,
        )

    def _finish(self, login: Callable[[], str], secret: str) -> bool:
        """Run ``login`` with the button off and show how it went (the secret masked)."""
        self.button.disabled = True
        self._show("Logging in...", ok=True)
        try:
            line = login()
        except ElfsquadError as exc:
            text = str(exc)
            self._show(text.replace(secret, "********") if secret else text, ok=False)
            return False
        except Exception as exc:  # a click handler's exception would vanish into the kernel log
            self._show(f"Login failed: {type(exc).__name__}.", ok=False)
            return False
        finally:
            self.button.disabled = False
        self._show(line, ok=True)
        return True

    def _on_click(self, _button: widgets.Button) -> None:
        self.submit()

    def _clear_error(self, _change: dict[str, Any]) -> None:
        if not self._submitting and _ERROR_STYLE in self.status.value:
            self.status.value = ""

    def _show(self, text: str, *, ok: bool) -> None:
        style = _OK_STYLE if ok else _ERROR_STYLE
        body = "<br>".join(html.escape(line) for line in text.splitlines())
        self.status.value = f'<span style="{style}">{body}</span>'

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            # Where widgets cannot render (terminal IPython), say what this is instead of
            # printing the widget tree.
            bundle["text/plain"] = (
                "Elfsquad login form: run the cell to show it (it needs a running kernel). "
                "In a terminal, %elfsquad_login without --form asks for the credentials."
            )
            # Where no widget can render (a docs page, a notebook viewer), a still picture of
            # the form: its labels and client id, never the secret field's value.
            bundle["text/html"] = self.static_html()
        return bundle

    def static_html(self) -> str:
        """The form as plain HTML, without scripts: what it looks like, for pages that cannot
        run widgets. The secret field shows as empty."""
        fields = [
            ("Client ID", self.client_id.value or "OpenId client id"),
            ("Client secret", ""),
            ("Scope", self.scope.value),
        ]
        rows = "".join(
            f'<div style="margin:2px 0"><span style="display:inline-block;width:{_LABEL_WIDTH}">'
            f'{html.escape(label)}</span><span style="display:inline-block;width:360px;'
            f'border:1px solid #bbb;padding:2px 6px;color:#555">{html.escape(value) or "&nbsp;"}'
            "</span></div>"
            for label, value in fields
        )
        return (
            '<div class="elfsquad-login-form" style="font-family:sans-serif;font-size:13px">'
            "<b>Log in to Elfsquad</b>"
            f"{rows}"
            '<div style="margin:2px 0;color:#555">&#9656; Advanced (login and API URLs)</div>'
            '<div style="margin:4px 0"><span style="background:#2196f3;color:white;'
            'padding:3px 12px">Log in</span></div>'
            f"<div>{self.status.value}</div>"
            "<i>(The login form; in a running notebook it is a live widget.)</i></div>"
        )

    def __repr__(self) -> str:
        return f"<LoginForm client_id={self.client_id.value!r}>"
