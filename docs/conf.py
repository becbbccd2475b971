"""Sphinx configuration of the elfsquad-magic docs (MyST pages, the demo notebooks via myst-nb)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(ROOT))

from elfsquad_magic import __version__  # noqa: E402

project = "elfsquad-magic"
author = "elfsquad-magic contributors"
copyright = "elfsquad-magic contributors"  # noqa: A001
release = version = __version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "elfsquad_reference",
]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
# The notebooks are shown as saved (with their outputs): executing them needs a sandbox and
# takes time the test suite already spends.
nb_execution_mode = "off"
# The login form is a live widget in a notebook; on these pages, where nothing runs, its still
# HTML picture shows instead, and no widget script is fetched from a CDN (the site works
# offline).
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
nb_ipywidgets_js: dict[str, dict[str, str]] = {}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "README.md"]
templates_path: list[str] = []
html_theme = "furo"
html_title = f"elfsquad-magic {version}"
html_static_path = ["_static"]
html_css_files = ["elfsquad.css"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
nitpicky = False

# The demo notebooks live in notebooks/ at the top; the site shows copies of them.
_DEMOS = HERE / "notebooks"
_DEMOS.mkdir(exist_ok=True)
for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
    target = _DEMOS / notebook.name
    if not target.exists() or target.read_bytes() != notebook.read_bytes():
        shutil.copyfile(notebook, target)
smartquotes = False  # option names such as --keyring stay as typed
