"""A real browser: JupyterLab in headless Chromium, the login form, a query's table, completion.

The tests start their own sandbox and give JupyterLab (and so the kernel) its hosts through
ELFSQUAD_LOGIN_URL / ELFSQUAD_API_URL; the browser types that sandbox's client id and secret into
the form that `%elfsquad_login --form` renders in 01-getting-started.ipynb, clicks Log in, then
runs a `%%elfsquad` cell and reads the rendered table. In new cells it presses Tab and reads
JupyterLab's completer popup, whose items come from the kernel's IPython matcher. Screenshots go
to test-output/browser/ (scripts/make_screenshots.py copies them to docs/img for the README).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import requests
from clients import get_token

from elfsquad_magic.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "01-getting-started.ipynb"
OUTPUT_DIR = ROOT / "test-output" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The cells the test runs, found by their first line in the notebook.
LOAD_CELL = "%load_ext elfsquad_magic"
FORM_CELL = "%elfsquad_login --form"
QUERY_CELL = "%%elfsquad GET /data/1/features"
# The query cell's request, asked of the sandbox directly to know what the table must show.
QUERY_PARAMS = {
    "$select": "name,articleCode,salesPrice",
    "$orderby": "salesPrice desc",
    "$top": "5",
}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _chromium() -> str:
    for candidate in (
        os.environ.get("CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip(
        "no Chromium found (install Debian's 'chromium' package, or set CHROMIUM=/path); "
        "bash scripts/test.sh installs it when run as root"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# JupyterLab user settings: no news/update toasts over the notebook, every cell in the DOM.
_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": (
        '{"fetchNews": "false", "checkForUpdates": false}'
    ),
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": '{"windowingMode": "none"}',
}


@pytest.fixture(scope="module")
def browser_sandbox() -> Iterator[Sandbox]:
    """The sandbox whose credentials the browser types; nothing else knows them."""
    with Sandbox(scale=1, seed=11) as sb:
        yield sb


@pytest.fixture(scope="module")
def lab(browser_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """JupyterLab on a free loopback port, serving a copy of the notebook without outputs."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, root / NOTEBOOK.name)
    for name, text in _SETTINGS.items():
        path = base / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ELFSQUAD_", "JUPYTER"))}
    env.update(
        ELFSQUAD_LOGIN_URL=browser_sandbox.login_url,
        ELFSQUAD_API_URL=browser_sandbox.api_url,
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
    )
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    log = open(OUTPUT_DIR / "jupyterlab.log", "wb")  # noqa: SIM115 - closed at teardown
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.open_browser=False",
    ]
    if os.geteuid() == 0:  # CI containers run as root; Jupyter refuses that unless told
        cmd.append("--allow-root")
    # Its own process group, so its kernels are stopped with it.
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"JupyterLab exited ({proc.returncode}); see {OUTPUT_DIR}/jupyterlab.log"
                )
            try:
                answer = requests.get(
                    f"{url}/api/status", headers={"Authorization": f"token {token}"}, timeout=2
                )
                if answer.ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("JupyterLab did not answer within 90 s")
            time.sleep(0.25)
        yield {"url": url, "token": token, "root": root}
    finally:
        _stop_group(proc)
        log.close()


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop JupyterLab and the kernels it started (its process group)."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Playwright), one for the module: every page is a context of it."""
    executable = _chromium()
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is missing"
    )
    with sync_api.sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except sync_api.Error as exc:
            pytest.skip(f"Chromium at {executable} could not be started: {exc}")
        sync_api.expect.set_options(timeout=30_000)
        yield chromium
        chromium.close()


@contextlib.contextmanager
def _browser_page(browser, url: str, screenshot: str) -> Iterator:
    """A page showing ``url`` with the notebook's first cell rendered."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(url)
    first_cell = page.locator(".jp-Notebook .jp-CodeCell .cm-content", has_text=LOAD_CELL)
    expect(first_cell).to_be_visible(timeout=60_000)
    try:
        yield page
    finally:
        page.screenshot(path=OUTPUT_DIR / screenshot)  # what the page showed at the end
        context.close()


@pytest.fixture(scope="module")
def page(browser, lab: dict):
    """A page showing the notebook in JupyterLab with an idle kernel."""
    from playwright.sync_api import expect

    url = f"{lab['url']}/lab/tree/{NOTEBOOK.name}?token={lab['token']}"
    with _browser_page(browser, url, "last-state.png") as page:
        kernel = page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"ipykernel.*\| Idle"))
        expect(kernel).to_be_visible(timeout=60_000)
        yield page


def _cell(page, first_line: str):
    """The code cell whose source starts with first_line (exactly one)."""
    matching = [
        cell
        for cell in page.locator(".jp-Notebook .jp-CodeCell").all()
        if cell.locator(".cm-line").first.inner_text().strip() == first_line
    ]
    assert len(matching) == 1, f"expected one cell starting with {first_line!r}"
    return matching[0]


def _run(page, cell) -> None:
    """Run a cell the way a user does (click into it, Shift+Enter) and wait until it finished."""
    from playwright.sync_api import expect

    cell.locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")
    expect(cell.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]"), timeout=60_000)


def _log_in_with_form(page, sb: Sandbox) -> None:
    """Load the extension and log in through the rendered form (once per page)."""
    from playwright.sync_api import expect

    form_cell = _cell(page, FORM_CELL)
    if form_cell.get_by_text(f"Logged in as {sb.client_id}").count():
        return
    _run(page, _cell(page, LOAD_CELL))
    _run(page, form_cell)
    client_id = form_cell.locator(".widget-text", has_text="Client ID").locator("input")
    secret = form_cell.locator("input[type='password']")
    expect(secret).to_be_visible()
    client_id.fill(sb.client_id)
    # A wrong secret first, sent with Enter: the error shows, and goes once the user types.
    secret.fill("wrong-" + sb.client_secret)
    secret.press("Enter")
    refused = form_cell.get_by_text("not accepted")
    expect(refused).to_be_visible()
    expect(secret).to_have_value("")
    secret.fill(sb.client_secret)
    expect(refused).to_have_count(0)
    form_cell.screenshot(path=OUTPUT_DIR / "login-form-filled.png")
    secret.press("Enter")
    expect(form_cell.get_by_text(f"Logged in as {sb.client_id}")).to_be_visible()
    expect(secret).to_have_value("")  # emptied as soon as it was read
    form_cell.screenshot(path=OUTPUT_DIR / "login-form.png")


def test_login_form_in_jupyterlab_then_a_query_renders_a_table(page, lab, browser_sandbox):
    from playwright.sync_api import expect

    _log_in_with_form(page, browser_sandbox)

    query_cell = _cell(page, QUERY_CELL)
    _run(page, query_cell)
    table = query_cell.locator(".jp-OutputArea-output table.dataframe")
    expect(table).to_be_visible()
    expected = requests.get(
        f"{browser_sandbox.api_url.rstrip('/')}/data/1/features",
        params=QUERY_PARAMS,
        headers={"Authorization": f"Bearer {get_token(browser_sandbox)}"},
        timeout=10,
    ).json()["value"]
    assert expected, "the sandbox has no features"
    expect(table.locator("tbody tr")).to_have_count(len(expected))
    for row in expected:
        expect(table).to_contain_text(row["articleCode"] or "")
    query_cell.screenshot(path=OUTPUT_DIR / "result-table.png")
    page.screenshot(path=OUTPUT_DIR / "notebook.png")

    # Save through the UI; neither the page nor the saved file holds the secret or a token.
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    saved_path = lab["root"] / NOTEBOOK.name
    deadline = time.monotonic() + 30
    while 'class=\\"dataframe\\"' not in (saved := saved_path.read_text(encoding="utf-8")):
        assert time.monotonic() < deadline, "the notebook was not saved with the table"
        time.sleep(0.2)
    dom = page.content()
    for value in [browser_sandbox.client_secret, *browser_sandbox.issued_tokens]:
        assert value not in dom
        assert value not in saved


def test_notebook_7_renders_the_form_logs_in_and_shows_a_table(browser, lab, browser_sandbox):
    """The classic interface (Notebook 7, from the `lab` extra) on its own copy of the notebook,
    so it runs in a kernel of its own."""
    from playwright.sync_api import expect

    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, lab["root"] / "in-notebook-7.ipynb")
    url = f"{lab['url']}/notebooks/in-notebook-7.ipynb?token={lab['token']}"
    with _browser_page(browser, url, "notebook7-last-state.png") as page:
        expect(page.locator("#jp-top-panel, #top-panel-wrapper").first).to_be_attached()
        _log_in_with_form(page, browser_sandbox)
        query_cell = _cell(page, QUERY_CELL)
        _run(page, query_cell)
        table = query_cell.locator(".jp-OutputArea-output table.dataframe")
        expect(table).to_be_visible()
        expect(table.locator("tbody tr")).to_have_count(int(QUERY_PARAMS["$top"]))
        page.screenshot(path=OUTPUT_DIR / "notebook7.png")
        dom = page.content()
        for value in [browser_sandbox.client_secret, *browser_sandbox.issued_tokens]:
            assert value not in dom


def _new_cell_below(page, cell):
    """Insert an empty code cell below ``cell`` (command mode ``b``) and put the cursor in it."""
    from playwright.sync_api import expect

    cell.locator(".cm-content").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    new = page.locator(".jp-Notebook .jp-CodeCell.jp-mod-active")
    expect(new.locator(".cm-line")).to_have_text([""])
    new.locator(".cm-content").click()
    return new


def _complete(page, cell, lines: list[str]) -> list[str]:
    """Type ``lines`` into the empty ``cell``, press Tab and return what the popup offers."""
    from playwright.sync_api import expect

    for number, line in enumerate(lines):
        if number:
            page.keyboard.press("Enter")
        page.keyboard.type(line)
    expect(cell.locator(".cm-line")).to_have_text(lines)
    page.keyboard.press("Tab")
    popup = page.locator(".jp-Completer")
    expect(popup).to_be_visible()  # the kernel answered with at least one item
    return popup.locator(".jp-Completer-item .jp-Completer-match").all_inner_texts()


def test_tab_completion_in_jupyterlab_offers_entity_sets_and_properties(page, browser_sandbox):
    from playwright.sync_api import expect

    _log_in_with_form(page, browser_sandbox)
    popup = page.locator(".jp-Completer")

    # Entity sets after /data/1/, in the server's casing, from the sandbox's $metadata.
    sets_cell = _new_cell_below(page, _cell(page, QUERY_CELL))
    offered = _complete(page, sets_cell, ["%%elfsquad GET /data/1/quo"])
    assert {"Quotations", "QuotationLines"} <= set(offered), offered
    assert all(name.lower().startswith("quo") for name in offered), offered
    _shoot_with_popup(page, sets_cell, OUTPUT_DIR / "completion-entity-sets.png")
    page.keyboard.press("Escape")

    # Property names after $select= in the body, for the set named on the first line.
    select_cell = _new_cell_below(page, sets_cell)
    offered = _complete(page, select_cell, [QUERY_CELL, "$select=na"])
    assert offered == ["name"], offered
    page.keyboard.press("Tab")  # a sole item: Tab takes it
    expect(select_cell.locator(".cm-line")).to_have_text([QUERY_CELL, "$select=name"])
    expect(popup).to_be_hidden()

    # After a comma: every property of Feature, none of its navigation properties.
    page.keyboard.type(",")
    page.keyboard.press("Tab")
    expect(popup.locator(".jp-Completer-item", has_text="salesPrice")).to_be_attached()
    offered = popup.locator(".jp-Completer-match").all_inner_texts()
    assert {"articleCode", "salesPrice", "name"} <= set(offered), offered
    assert "category" not in offered, offered
    _shoot_with_popup(page, select_cell, OUTPUT_DIR / "completion.png")
    page.keyboard.press("Escape")
    expect(popup).to_be_hidden()


def _shoot_with_popup(page, cell, path: Path) -> None:
    """A screenshot of the cell and the completer popup beside it (the popup is not inside it)."""
    boxes = [cell.bounding_box(), page.locator(".jp-Completer").bounding_box()]
    left = max(0, min(b["x"] for b in boxes) - 8)
    top = max(0, min(b["y"] for b in boxes) - 8)
    right = max(b["x"] + b["width"] for b in boxes) + 8
    bottom = max(b["y"] + b["height"] for b in boxes) + 8
    page.screenshot(
        path=path, clip={"x": left, "y": top, "width": right - left, "height": bottom - top}
    )


def _largest_unlinked_model(sb: Sandbox) -> tuple[dict, int]:
    """The root feature of the model with the most nodes and no linked model, and its node
    count, from the sandbox's rows (worked out here, not by the view)."""
    nodes = sb.rows("FeatureModelNodes")
    model_of_node = {n["id"]: n["featureModelId"] for n in nodes}
    linking = {model_of_node.get(link["parentNodeId"]) for link in sb.rows("LinkedFeatureModels")}
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node["featureModelId"]] = counts.get(node["featureModelId"], 0) + 1
    features = {f["id"]: f for f in sb.rows("Features")}
    models = [m for m in sb.rows("FeatureModels") if m["id"] not in linking]
    model = max(models, key=lambda m: counts.get(m["id"], 0))
    return features[model["rootFeatureId"]], counts[model["id"]]


def test_a_model_tree_opens_and_closes_in_jupyterlab(page, browser_sandbox):
    """`%elfsquad_view model` draws the model as nested <details>: every node there once, the
    root open and the rest closed, a click opens a node and a second click closes it."""
    from playwright.sync_api import expect

    _log_in_with_form(page, browser_sandbox)
    root, count = _largest_unlinked_model(browser_sandbox)
    assert root["articleCode"], "the model's root has no article code to name it by"
    _new_cell_below(page, _cell(page, FORM_CELL))  # one cell has that first line in any order
    source = f"%elfsquad_view model {root['articleCode']}"
    page.keyboard.type(source)
    cell = _cell(page, source)  # by its text: the active cell moves on when it runs
    _run(page, cell)
    tree = cell.locator(".jp-OutputArea-output .elfsquad-tree")
    expect(tree).to_be_visible(timeout=60_000)
    expect(tree).to_contain_text(f"{count} nodes")
    # Every node once: a node with children is a <summary>, a leaf a <div> in its parent.
    summaries = tree.locator("summary")
    leaves = tree.locator("details > div")
    assert summaries.count() + leaves.count() == count
    top = tree.locator(":scope > details")
    expect(top).to_have_count(1)
    expect(top.locator(":scope > summary")).to_contain_text(" ".join(root["name"].split()))
    expect(top).to_have_attribute("open", "")
    inner = top.locator(":scope > details")
    assert inner.count(), "the largest model has no node below the root's children"
    first = inner.first
    expect(first).not_to_have_attribute("open", "")
    below = first.locator(":scope > details > summary, :scope > div").first
    expect(below).to_be_hidden()
    first.locator(":scope > summary").click()
    expect(first).to_have_attribute("open", "")
    expect(below).to_be_visible()
    cell.screenshot(path=OUTPUT_DIR / "model-tree.png")
    first.locator(":scope > summary").click()
    expect(below).to_be_hidden()
