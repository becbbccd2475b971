"""The login form on its own: fields, the button, the status area, the secret field's lifetime."""

from __future__ import annotations

from typing import Any

import pytest

from elfsquad_magic.errors import LoginError
from elfsquad_magic.notebook.login_widget import LoginForm

SECRET = "s3cr3t-value-that-must-vanish"


class Recorder:
    """A login function that records what the form passed and answers as told."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.error = error

    def __call__(
        self, client_id: str, client_secret: str, *, scope: str, login_url: str, api_url: str
    ) -> str:
        self.calls.append(
            dict(
                client_id=client_id,
                client_secret=client_secret,
                scope=scope,
                login_url=login_url,
                api_url=api_url,
            )
        )
        if self.error is not None:
            raise self.error
        return f"Logged in as {client_id} - token valid until 14:05"


def _fill(form: LoginForm, client_id: str = "my-client", secret: str = SECRET) -> None:
    form.client_id.value = client_id
    form.client_secret.value = secret


def test_form_has_the_fields_with_defaults() -> None:
    form = LoginForm(Recorder(), login_url="https://login.example", api_url="https://api.example")
    assert form.client_id.description == "Client ID"
    assert form.client_secret.description == "Client secret"
    assert type(form.client_secret).__name__ == "Password"
    assert form.scope.value == "Elfskot.Api"
    assert form.advanced.titles == ("Advanced",)
    assert form.login_url.value == "https://login.example"
    assert form.api_url.value == "https://api.example"
    assert form.button.description == "Log in"
    assert form.status_text == ""


def test_click_passes_the_values_and_shows_success() -> None:
    login = Recorder()
    form = LoginForm(login, login_url="https://login.example", api_url="https://api.example")
    _fill(form, client_id="  my-client ")
    form.scope.value = "Other.Scope"
    form.button.click()
    assert login.calls == [
        dict(
            client_id="my-client",
            client_secret=SECRET,
            scope="Other.Scope",
            login_url="https://login.example",
            api_url="https://api.example",
        )
    ]
    assert form.status_text == "Logged in as my-client - token valid until 14:05"
    assert form.client_secret.value == ""
    assert not form.button.disabled


def test_failure_shows_the_reason_and_empties_the_secret() -> None:
    error = LoginError("The login server refused the client ID or secret.", "Check them.")
    form = LoginForm(Recorder(error))
    _fill(form)
    form.button.click()
    assert "refused the client ID or secret" in form.status_text
    assert "Check them." in form.status_text
    assert form.client_secret.value == ""
    assert form.client_id.value == "my-client"  # kept, so only the secret needs retyping


def test_a_message_echoing_the_secret_is_masked() -> None:
    form = LoginForm(Recorder(LoginError(f"bad secret {SECRET}")))
    _fill(form)
    form.button.click()
    assert SECRET not in form.status.value
    assert "********" in form.status_text


def test_unexpected_exception_is_shown_without_its_text() -> None:
    form = LoginForm(Recorder(RuntimeError(f"internal detail {SECRET}")))
    _fill(form)
    form.button.click()
    assert form.status_text == "Login failed: RuntimeError."


@pytest.mark.parametrize(
    ("client_id", "secret", "missing"),
    [("", SECRET, "client ID"), ("my-client", "", "client secret")],
)
def test_missing_value_is_asked_for_without_calling(client_id, secret, missing) -> None:
    login = Recorder()
    form = LoginForm(login)
    _fill(form, client_id=client_id, secret=secret)
    form.button.click()
    assert login.calls == []
    assert form.status_text == f"Enter the {missing} first."
    assert form.client_secret.value == ""


def test_widget_state_never_holds_the_secret_after_a_click() -> None:
    form = LoginForm(Recorder(LoginError("no")))
    _fill(form)
    form.button.click()
    for widget in form.all_widgets():
        assert SECRET not in repr(widget.get_state())
    assert SECRET not in repr(form)


def test_hint_goes_on_its_own_line() -> None:
    form = LoginForm(Recorder(LoginError("Refused.", "Check the secret.")))
    _fill(form)
    form.button.click()
    assert form.status_text == "Refused.\nHint: Check the secret."


def test_plain_text_display_says_what_the_form_is() -> None:
    bundle = LoginForm(Recorder())._repr_mimebundle_()
    assert bundle["text/plain"].startswith("Elfsquad login form")
    assert "application/vnd.jupyter.widget-view+json" in bundle


def _press_enter(field: Any) -> None:
    """What the browser sends when Enter is pressed in a text field."""
    field._handle_string_msg(None, {"event": "submit"}, None)


def test_enter_in_the_secret_field_logs_in(recwarn) -> None:
    login = Recorder()
    form = LoginForm(login, login_url="https://login.example", api_url="https://api.example")
    _fill(form)
    _press_enter(form.client_secret)
    assert [call["client_secret"] for call in login.calls] == [SECRET]
    assert form.client_secret.value == ""
    assert form.status_text.startswith("Logged in as my-client")
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


def test_an_error_is_cleared_as_soon_as_a_field_changes() -> None:
    form = LoginForm(Recorder(LoginError("The client id or its secret was not accepted.")))
    _fill(form)
    form.submit()
    assert "not accepted" in form.status_text  # it survives the emptied secret field
    form.client_secret.value = "another-secret"
    assert form.status_text == ""
    form.submit()
    assert "not accepted" in form.status_text
    form.api_url.value = "https://other.example"
    assert form.status_text == ""


def test_the_advanced_box_is_as_wide_as_the_fields() -> None:
    form = LoginForm(Recorder())
    assert form.advanced.layout.width == form.client_id.layout.width
