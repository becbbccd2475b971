"""The demo notebooks run top to bottom headless, and leave no secret in outputs or widget state.

Execution and the leak search live in scripts/execute_notebooks.py (which also saves the
notebooks), so the test checks exactly what gets committed.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

from elfsquad_magic.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
OUTPUT_DIR = ROOT / "test-output" / "notebooks"
EXPECTED = [
    "01-getting-started.ipynb",
    "02-quotation-analysis.ipynb",
    "03-updating-data.ipynb",
    "04-product-models.ipynb",
]

pytestmark = pytest.mark.notebooks


def _load_runner():
    spec = importlib.util.spec_from_file_location(
        "execute_notebooks", ROOT / "scripts" / "execute_notebooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


runner = _load_runner()


def test_the_demo_notebooks_exist():
    assert [p.name for p in runner.notebooks()] == EXPECTED
    assert all(path.is_file() for path in runner.notebooks())


def test_a_notebook_of_the_users_own_is_left_alone(tmp_path, monkeypatch):
    """File > New > Notebook in Lab saves notebooks/Untitled.ipynb: no demo, not checked."""
    (tmp_path / "Untitled.ipynb").write_text(
        nbformat.writes(nbformat.v4.new_notebook()), encoding="utf-8"
    )
    for name in EXPECTED:
        (tmp_path / name).write_text("{}", encoding="utf-8")
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", tmp_path)
    assert [p.name for p in runner.notebooks()] == EXPECTED


@pytest.fixture
def bait_sandbox():
    """A sandbox whose credentials the kernel gets as ELFSQUAD_* variables: they must not leak."""
    with Sandbox(scale=1, seed=3) as sb:
        yield sb


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs_top_to_bottom_and_leaks_no_secret(name, bait_sandbox):
    env = {
        "ELFSQUAD_CLIENT_ID": bait_sandbox.client_id,
        "ELFSQUAD_CLIENT_SECRET": bait_sandbox.client_secret,
        "ELFSQUAD_LOGIN_URL": bait_sandbox.login_url,
        "ELFSQUAD_API_URL": bait_sandbox.api_url,
        "ELFSQUAD_SCIM_TOKEN": bait_sandbox.scim_token,
    }
    # Raises CellExecutionError, naming the cell and its error, when any cell fails.
    run = runner.execute(ROOT / "notebooks" / name, env=env)

    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    nbformat.write(run.nb, OUTPUT_DIR / name)
    # The check is only worth something if the kernel really logged in and we know its secrets.
    assert run.sandboxes >= 1, "the notebook started no sandbox (no %elfsquad_login --demo?)"
    assert run.tokens >= 1, "the notebook's kernel obtained no token"
    secrets = [*run.secrets, bait_sandbox.client_secret, *bait_sandbox.issued_tokens]
    # Each demo sandbox gave its client secret and its SCIM token, besides the tokens issued.
    assert len(run.secrets) >= 2 * run.sandboxes + run.tokens
    secrets.append(bait_sandbox.scim_token)
    assert runner.find_leaks(run.nb, secrets) == []
    for cell in run.nb.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"], cell.source


LEAKY_CELLS = [
    "%load_ext elfsquad_magic",
    "%elfsquad_login --demo",
    # What a careless library might do: obtain a token and show part of it, show a secret in
    # a widget. The probe must know this sandbox and the search must find both.
    """import requests, ipywidgets
from elfsquad_magic.sandbox import Sandbox
sb = Sandbox().start()
answer = requests.post(sb.login_url.rstrip("/") + "/oauth2/token", data={
    "grant_type": "client_credentials", "client_id": sb.client_id,
    "client_secret": sb.client_secret, "scope": "Elfskot.Api"}, timeout=10)
print("token starts with", answer.json()["access_token"][:20])""",
    "ipywidgets.Text(value=sb.client_secret)",
    "sb.stop()",
]


@pytest.mark.slow
def test_leak_search_finds_a_token_fragment_in_outputs_and_a_secret_in_widget_state(tmp_path):
    path = tmp_path / "leaky.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in LEAKY_CELLS]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)

    run = runner.execute(path)

    assert run.sandboxes == 2  # the demo sandbox and the one the cell started
    leaks = runner.find_leaks(run.nb, run.secrets)
    assert any(leak.startswith("cell 2 outputs") for leak in leaks), leaks
    assert any(leak.startswith("metadata.widgets") for leak in leaks), leaks
    # Nothing is reported for the clean cells.
    assert not [leak for leak in leaks if leak.startswith(("cell 0 ", "cell 1 ", "cell 4 "))]


def test_fragments_cover_every_window_of_a_long_secret():
    secret = "A" * 5 + "0123456789abcdefghij"
    frags = runner.fragments(secret)
    assert all(len(f) == runner.FRAGMENT for f in frags)
    assert "0123456789abcdef" in frags
    assert runner.fragments("short") == {"short"}


# -- the committed notebooks ----------------------------------------------------------------

_TOKENISH = re.compile(r"Bearer\s+[A-Za-z0-9._~+/-]{8,}|\"access_token\"|eyJ[A-Za-z0-9_-]{10,}\.")


@pytest.mark.parametrize("name", EXPECTED)
def test_saved_notebook_carries_outputs_and_nothing_secret(name):
    path = ROOT / "notebooks" / name
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "no code cells"
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "not saved from one clean top-to-bottom run"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]

    outputs = json.dumps([c.outputs for c in code]) + json.dumps(nb.metadata.get("widgets", {}))
    assert not _TOKENISH.search(outputs)
    # A password widget's saved value is empty (01 shows the login form, so it has one).
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    passwords = [
        model["state"]
        for model in state.get("state", {}).values()
        if model.get("model_name") == "PasswordModel"
    ]
    if name.startswith("01-"):
        assert passwords, "the saved login form is missing from the widget state"
    assert all(p.get("value", "") == "" for p in passwords)
