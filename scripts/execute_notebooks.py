"""Execute the demo notebooks headless and check them for leaked secrets.

    .venv/bin/python scripts/execute_notebooks.py            # execute all, check, write nothing
    .venv/bin/python scripts/execute_notebooks.py --write    # ... and save them with outputs

Each notebook runs top to bottom in a fresh kernel (nbclient), as "Run All" would, against the
sandbox that `%elfsquad_login --demo` starts inside that kernel. Before the first cell a probe
is installed in the kernel that records every `Sandbox` created there; after the last cell the
probe reports each one's client secret and every token it issued. The executed notebook (all
outputs and the saved widget state) is then searched for those strings and for fragments of
them. A notebook is only written back when that search finds nothing.

`tests/notebook/test_notebooks.py` uses the same functions, so what the test checks is what
gets saved.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from traitlets import default

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
CELL_TIMEOUT = 180
"""Seconds one cell may take; the slowest demo cell takes a few seconds."""

# A module in the kernel's sys.modules rather than names in the user namespace, so the
# notebook's own cells cannot see or print the probe.
_PROBE_MODULE = "_elfsquad_notebook_probe"

PROBE_SETUP = f"""
def _install_probe():
    import sys, types
    from elfsquad_magic.sandbox import Sandbox
    probe = types.ModuleType({_PROBE_MODULE!r})
    probe.sandboxes = []
    original_init = Sandbox.__init__
    def recording_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        probe.sandboxes.append(self)
    Sandbox.__init__ = recording_init
    sys.modules[{_PROBE_MODULE!r}] = probe
_install_probe()
del _install_probe
"""

PROBE_REPORT = f"""
def _report_probe():
    import json, sys
    probe = sys.modules[{_PROBE_MODULE!r}]
    found = [{{"secret": sb.client_secret, "scim": sb.scim_token, "tokens": list(sb.issued_tokens)}}
             for sb in probe.sandboxes]
    print("PROBE:" + json.dumps(found))
_report_probe()
del _report_probe
"""

FRAGMENT = 16
"""Length of the windows searched for, so a partly shown secret ("abcd1234efgh...") is caught."""


class ThisPythonKernelManager(AsyncKernelManager):
    """Starts this Python's own ipykernel as "python3", whatever kernel specs are installed.

    A "python3" spec in the user's Jupyter directories could point at another Python, one
    without this checkout installed.
    """

    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self) -> KernelSpecManager:
        return KernelSpecManager(kernel_dirs=[])


@dataclass
class ExecutedNotebook:
    """A notebook after a run: the executed document and the secrets its kernel handled."""

    path: Path
    nb: nbformat.NotebookNode
    secrets: list[str] = field(default_factory=list)
    sandboxes: int = 0
    tokens: int = 0


def clear_outputs(nb: nbformat.NotebookNode) -> None:
    """Remove outputs, execution counts and saved widget state, as before a fresh run."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)


def kernel_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The kernel's environment: ours without ELFSQUAD_* (real credentials stay out), plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELFSQUAD_")}
    env.update(extra or {})
    return env


def _run_hidden(client: NotebookClient, source: str) -> str:
    """Run code in the notebook's kernel without leaving a cell behind; return its stdout."""
    cell = nbformat.v4.new_code_cell(source)
    client.nb.cells.append(cell)
    try:
        client.execute_cell(cell, len(client.nb.cells) - 1, store_history=False)
    finally:
        client.nb.cells.pop()
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def execute(
    path: Path, *, env: dict[str, str] | None = None, timeout: int = CELL_TIMEOUT
) -> ExecutedNotebook:
    """Run every cell of the notebook at `path` in a fresh kernel; raise on the first failing cell.

    Raises nbclient's CellExecutionError, which names the cell and shows its error.
    """
    nb = nbformat.read(path, as_version=4)
    clear_outputs(nb)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        kernel_manager_class=ThisPythonKernelManager,
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
    )
    with client.setup_kernel(env=kernel_env(env), cwd=str(path.parent)):
        info = client.wait_for_reply(client.kc.kernel_info())
        nb.metadata["language_info"] = info["content"]["language_info"]
        _run_hidden(client, PROBE_SETUP)
        client.code_cells_executed = 0  # the probe is not one of the notebook's cells
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
        report = _run_hidden(client, PROBE_REPORT)
        client.set_widgets_metadata()
    found = json.loads(report.split("PROBE:", 1)[1])
    secrets = [s for sb in found for s in (sb["secret"], sb.get("scim"), *sb["tokens"]) if s]
    return ExecutedNotebook(
        path=path,
        nb=nb,
        secrets=secrets,
        sandboxes=len(found),
        tokens=sum(len(sb["tokens"]) for sb in found),
    )


def _strings(node: object) -> Iterator[str]:
    """Every string in a JSON-like tree, keys included."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def fragments(secret: str) -> set[str]:
    """The secret and, for long ones, every window of FRAGMENT characters of it."""
    if len(secret) <= FRAGMENT:
        return {secret}
    return {secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)}


def find_leaks(nb: nbformat.NotebookNode, secrets: Iterable[str]) -> list[str]:
    """Where any secret (or a fragment of one) appears in the outputs or the widget state.

    Returns one line per finding, naming the place but not the secret.
    """
    places: list[tuple[str, object]] = [
        (f"cell {i} outputs", cell.get("outputs", [])) for i, cell in enumerate(nb.cells)
    ]
    places.append(("metadata.widgets", nb.metadata.get("widgets", {})))
    # The saved file as a whole too, in case JSON escaping or an unexpected field hides one.
    places.append(("saved file", [nbformat.writes(nb)]))
    needles = {frag: n for n, secret in enumerate(secrets) for frag in fragments(secret)}
    leaks = []
    for place, tree in places:
        for text in _strings(tree):
            for frag, n in needles.items():
                if frag in text:
                    leaks.append(f"{place}: secret #{n} (or part of it)")
                    break
    return sorted(set(leaks))


DEMO_NOTEBOOKS = (
    "01-getting-started.ipynb",
    "02-quotation-analysis.ipynb",
    "03-updating-data.ipynb",
    "04-product-models.ipynb",
)
"""The demo notebooks, in reading order: a notebook of the user's own in the folder (File > New
> Notebook in Lab saves one there) is neither run nor checked."""


def notebooks() -> list[Path]:
    """The demo notebooks, in reading order."""
    return [NOTEBOOK_DIR / name for name in DEMO_NOTEBOOKS]


def main(argv: list[str] | None = None) -> int:
    """Execute (and with --write save) the demo notebooks; non-zero on a failure or a leak."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: all)")
    parser.add_argument("--write", action="store_true", help="save them with their outputs")
    args = parser.parse_args(argv)
    status = 0
    for path in args.paths or notebooks():
        run = execute(path.resolve())
        leaks = find_leaks(run.nb, run.secrets)
        print(f"{path.name}: {run.sandboxes} sandbox(es), {run.tokens} token(s) checked", end="")
        if leaks:
            print(" - LEAKS:\n  " + "\n  ".join(leaks))
            status = 1
            continue
        if args.write:
            nbformat.write(run.nb, path)
            print(" - saved", end="")
        print()
    return status


if __name__ == "__main__":
    sys.exit(main())
