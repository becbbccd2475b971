"""`%elfsquad_login` in a real ipykernel: the frontend decides between form, prompt and failure.

A frontend that allows input (JupyterLab, VS Code) gets the form; one that does not (nbclient,
papermill) gets an immediate error naming the environment variables instead of a hang.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

jupyter_client = pytest.importorskip("jupyter_client")

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class Kernel:
    """A real kernel subprocess and a blocking client; run() collects one cell's outputs."""

    def __init__(self, env: dict[str, str]) -> None:
        self.manager, self.client = jupyter_client.manager.start_new_kernel(
            kernel_name="python3", env=env
        )

    def run(self, code: str, *, allow_stdin: bool = False) -> tuple[list[dict[str, Any]], str]:
        outputs: list[dict[str, Any]] = []
        kinds = ("stream", "display_data", "update_display_data", "execute_result", "error")

        def keep(msg: dict[str, Any]) -> None:
            if msg["msg_type"] in kinds:
                outputs.append({**msg["content"], "msg_type": msg["msg_type"]})

        reply = self.client.execute_interactive(
            code,
            allow_stdin=allow_stdin,
            output_hook=keep,
            stdin_hook=self._no_input,
            timeout=60,
        )
        return outputs, reply["content"]["status"]

    @staticmethod
    def _no_input(msg: dict[str, Any]) -> None:
        raise AssertionError(f"the kernel asked for input: {msg['content']}")

    def stop(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELFSQUAD_")}
    k = Kernel(env)
    k.run("%load_ext elfsquad_magic")
    yield k
    k.stop()


def _errors(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in outputs if "ename" in o]


@pytest.mark.timing
def test_without_stdin_login_fails_at_once_naming_the_variables(kernel: Kernel) -> None:
    started = time.monotonic()
    outputs, status = kernel.run("%elfsquad_login", allow_stdin=False)
    elapsed = time.monotonic() - started
    assert status == "error"
    [error] = _errors(outputs)
    assert error["ename"] == "LoginError"
    shown = "\n".join(error["traceback"])
    assert "ELFSQUAD_CLIENT_ID" in shown and "ELFSQUAD_CLIENT_SECRET" in shown
    assert "Traceback" not in shown and "File " not in shown
    assert elapsed < 5


def test_with_a_live_frontend_login_shows_the_form(kernel: Kernel) -> None:
    outputs, status = kernel.run("%elfsquad_login", allow_stdin=True)
    assert status == "ok"
    assert any(WIDGET_VIEW in o.get("data", {}) for o in outputs)
    assert not _errors(outputs)


def test_demo_runs_the_sandbox_inside_the_kernel(kernel: Kernel) -> None:
    outputs, status = kernel.run("%elfsquad_login --demo")
    assert status == "ok", outputs
    assert any("Logged in as demo-client" in o.get("text", "") for o in outputs)
    outputs, status = kernel.run(
        "%%elfsquad GET /data/1/features\n$select=name,salesPrice\n$top=4\n"
    )
    assert status == "ok", outputs
    [result] = [o for o in outputs if "execution_count" in o]
    assert "text/html" in result["data"]  # a DataFrame, rendered as a table
    assert "salesPrice" in result["data"]["text/plain"]


def test_an_interrupted_fetch_says_so_in_one_line_and_closes_its_bar(kernel: Kernel) -> None:
    import threading

    kernel.run("%elfsquad_login --demo")
    setup = (
        "_sb = get_ipython().magics_manager.registry['ElfsquadMagic'].session.sandbox\n"
        "_sb.configure(latency_ms=300, page_size=20)"
    )
    assert kernel.run(setup)[1] == "ok"
    timer = threading.Timer(2.0, kernel.manager.interrupt_kernel)
    timer.start()
    try:
        outputs, status = kernel.run("lines = 1\n%elfsquad -o lines GET /data/1/quotationlines")
    finally:
        timer.cancel()
    assert status == "error"
    [error] = _errors(outputs)
    assert error["ename"] == "FetchInterrupted"
    shown = "\n".join(error["traceback"])
    assert len(error["traceback"]) == 1, shown
    assert "Interrupted after" in shown and "rows had arrived" in shown
    assert "nothing was returned" in shown
    assert "Traceback" not in shown and "concurrent" not in shown
    bars = [o for o in outputs if o["msg_type"] == "display_data"]
    blanked = [o for o in outputs if o["msg_type"] == "update_display_data"]
    assert bars and blanked, outputs  # the bar was shown, then closed and blanked
    assert blanked[-1]["data"].get("text/html", "") == ""
    kernel.run("_sb.configure(latency_ms=0, page_size=500)")
    outputs, status = kernel.run("vats = %elfsquad GET /data/1/vats\nprint(lines, len(vats) > 0)")
    assert status == "ok", outputs  # the session is fine...
    assert any(o.get("text", "").strip() == "1 True" for o in outputs)  # ...and -o untouched


def test_a_write_is_undone_after_the_kernel_restarts(fresh_sandbox, tmp_path) -> None:
    """The journal is on disk: a write made in one kernel is undone from the next one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELFSQUAD_")}
    env.update(
        ELFSQUAD_CLIENT_ID=fresh_sandbox.client_id,
        ELFSQUAD_CLIENT_SECRET=fresh_sandbox.client_secret,
        ELFSQUAD_LOGIN_URL=fresh_sandbox.login_url,
        ELFSQUAD_API_URL=fresh_sandbox.api_url,
        ELFSQUAD_JOURNAL_DIR=str(tmp_path / "journal"),
    )
    row = fresh_sandbox.rows("Features")[0]
    first = Kernel(env)
    try:
        first.run("%load_ext elfsquad_magic")
        _, status = first.run(
            "%elfsquad_login\n"
            "body = {'salesPrice': 1.0}\n"
            f"%elfsquad --json body PATCH /data/1/features({row['id']})"
        )
        assert status == "ok"
    finally:
        first.stop()
    assert fresh_sandbox.rows("Features")[0]["salesPrice"] == 1.0
    second = Kernel(env)
    try:
        second.run("%load_ext elfsquad_magic")
        outputs, status = second.run("%elfsquad_login\n%elfsquad_undo")
        assert status == "ok", outputs
        said = "".join(o.get("text", "") for o in outputs if o["msg_type"] == "stream")
        assert "1 record(s) restored" in said
    finally:
        second.stop()
    assert fresh_sandbox.rows("Features")[0]["salesPrice"] == row["salesPrice"]


# Code run in the kernel to make one moment of a fetch last long enough to be interrupted in:
# the first answer (a slow service), the pages (a slow service, small pages), the conversion of
# the pages into the frame, and the closing count of a concurrent fetch. The last two wrap public
# functions of the package with a pause; the interrupt itself is a real SIGINT to the kernel.
_MOMENTS = {
    "first answer": "_sb.configure(latency_ms=3000)",
    "download": "_sb.configure(latency_ms=300, page_size=20)",
    "conversion": (
        "import time as _time\n"
        "from elfsquad_magic.fetch.frames import FrameBuilder as _FB\n"
        "_frame = _FB.frame\n"
        "_FB.frame = lambda self: (_time.sleep(4), _frame(self))[1]\n"
    ),
    "count check": (
        "import time as _time\n"
        "import elfsquad_magic.fetch.collection as _c\n"
        "_read_page = _c.read_page\n"
        "_c.read_page = lambda t, url, **kw: (\n"
        "    _time.sleep(4) if '%24top=0' in url or '$top=0' in url else None,\n"
        "    _read_page(t, url, **kw),\n"
        ")[1]\n"
    ),
}


@pytest.mark.slow
def test_ctrl_c_at_any_moment_of_a_fetch_is_one_line_and_changes_nothing(kernel: Kernel) -> None:
    import threading

    assert kernel.run("%elfsquad_login --demo")[1] == "ok"
    sandbox = "_sb = get_ipython().magics_manager.registry['ElfsquadMagic'].session.sandbox"
    assert kernel.run(sandbox)[1] == "ok"
    for moment, setup in _MOMENTS.items():
        assert kernel.run(setup)[1] == "ok", moment
        timer = threading.Timer(1.0, kernel.manager.interrupt_kernel)
        timer.start()
        try:
            outputs, status = kernel.run("lines = 1\n%elfsquad -o lines GET /data/1/quotationlines")
        finally:
            timer.cancel()
        assert status == "error", (moment, outputs)
        [error] = _errors(outputs)
        shown = "\n".join(error["traceback"])
        assert error["ename"] == "FetchInterrupted", (moment, shown)
        assert len(error["traceback"]) == 1, (moment, shown)
        assert "nothing was returned" in shown and "Traceback" not in shown, moment
        restore = (
            "_sb.configure(latency_ms=0, page_size=500)\n"
            "if '_frame' in globals(): _FB.frame = _frame\n"
            "if '_read_page' in globals(): _c.read_page = _read_page\n"
        )
        assert kernel.run(restore)[1] == "ok"
        outputs, status = kernel.run("vats = %elfsquad GET /data/1/vats\nprint(lines)")
        assert status == "ok", (moment, outputs)  # the session is fine, -o untouched
        assert any(o.get("text", "").strip() == "1" for o in outputs), (moment, outputs)
