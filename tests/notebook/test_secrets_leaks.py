"""Neither the client secret nor any token shows up anywhere a user (or a saved notebook) sees.

A whole session is replayed through `run_cell` with history on: login by environment and by
the form, status, queries, an error, logout. Then every place text can end up is searched for
the real secret and every token the sandbox issued.
"""

from __future__ import annotations

from typing import Any

from IPython.utils.capture import capture_output
from leakcheck import secrets_of

CELLS = [
    "%elfsquad_login",
    "%elfsquad_status",
    "features = %elfsquad GET /data/1/features?$top=3",
    "%%elfsquad -o lines --limit 600 GET /data/1/quotationlines\n$select=id,quantity\n",
    "raw = %elfsquad --raw GET /data/1/categories?$top=1",
    "%elfsquad GET /data/1/nosuchset",
    "%elfsquad --limit nope /data/1/features",
    "%elfsquad_login --form",
    "session_repr = repr(get_ipython().magics_manager.registry['ElfsquadMagic'].session)",
    "client_repr = repr(get_ipython().magics_manager.registry['ElfsquadMagic'].session.client)",
    "%elfsquad_status",
    "%elfsquad_logout",
]


def _texts(value: Any) -> list[str]:
    """repr and str of a value, and of a DataFrame's attrs (where the request is recorded)."""
    texts = [repr(value), str(value)]
    attrs = getattr(value, "attrs", None)
    if attrs:
        texts.append(repr(attrs))
    return texts


def test_no_secret_or_token_anywhere(ip, sandbox_env) -> None:
    magic = ip.magics_manager.registry["ElfsquadMagic"]
    seen: list[str] = []
    with capture_output() as cap:
        for code in CELLS[:8]:
            result = ip.run_cell(code, store_history=True)
            if result.error_in_exec is not None:
                seen.append(str(result.error_in_exec))
                seen.extend(getattr(result.error_in_exec, "_render_traceback_", list)())
        form = magic.form
        form.client_secret.value = sandbox_env.client_secret
        form.button.click()
        assert form.status_text.startswith("Logged in as")
        for code in CELLS[8:]:
            ip.run_cell(code, store_history=True).raise_error()

    secrets = secrets_of(sandbox_env)
    assert len(secrets) >= 3  # the secret, the env login's token and the form login's token

    seen += [cap.stdout, cap.stderr]
    seen += [repr(output.data) for output in cap.outputs]
    for name, value in ip.user_ns.items():
        if name not in ip.user_ns_hidden:
            seen += _texts(value)
    history = ip.history_manager
    seen += history.input_hist_raw + history.input_hist_parsed
    seen += [t for value in history.output_hist.values() for t in _texts(value)]
    seen += [repr(w.get_state()) for w in form.all_widgets()]
    seen += [repr(form), repr(magic.session), repr(magic)]
    seen.append(ip.user_ns["session_repr"])
    seen.append(ip.user_ns["client_repr"])

    assert "404" in "\n".join(seen)  # the error really was captured
    assert len(ip.user_ns["lines"]) == 600
    for secret in secrets:
        for text in seen:
            assert secret not in text
