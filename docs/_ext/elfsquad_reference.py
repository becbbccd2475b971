"""Sphinx directives that write the reference from the code that defines it.

``elfsquad-magics`` reads the magics' argparse parsers and docstrings, ``elfsquad-settings`` the
``ElfsquadMagic`` traits, ``elfsquad-errors`` the classes of ``errors.py`` and
``elfsquad-sandbox-options`` the sandbox's command line, so every option list exists once, in
code.
"""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _usage(parser: argparse.ArgumentParser) -> str:
    # IPython formats the usage as reStructuredText ("::" and an indent).
    return " ".join(parser.format_usage().replace("::", " ").split()).removeprefix("usage: ")


def _options_table(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            names = ", ".join(
                f"{name} {action.metavar}" if action.nargs != 0 and action.metavar else name
                for name in action.option_strings
            )
        else:
            names = action.metavar or action.dest
        help_text = (action.help or "").replace("%%", "%")
        if action.default not in (None, False, argparse.SUPPRESS) and action.option_strings:
            help_text += f" (default `{action.default}`)"
        rows.append([_code(names), help_text])
    if not rows:
        return ["No options.", ""]
    return _table(["option", "effect"], rows)


class _Generated(SphinxDirective):
    """Parses the Markdown that :meth:`lines` writes, as if it stood in the page."""

    has_content = False

    def lines(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        container = nodes.section()
        container.document = self.state.document
        content = StringList(self.lines(), source="generated")
        nested_parse_with_titles(self.state, content, container)
        return container.children


class MagicsReference(_Generated):
    """Every magic: its usage line, docstring and options, from the parser itself."""

    def lines(self) -> list[str]:
        from elfsquad_magic.notebook.magics import ElfsquadMagic

        out: list[str] = []
        kinds = ElfsquadMagic.magics
        for name in kinds["line"]:
            function = getattr(ElfsquadMagic, name)
            parser = getattr(function, "parser", None)
            cell = name in kinds["cell"]
            title = f"`%%{name}` and `%{name}`" if cell else f"`%{name}`"
            out += [f"### {title}", ""]
            if parser is not None:
                usage = _usage(parser)
                if cell:
                    usage = usage.replace(f"%{name} ", f"%%{name} ", 1) + " [METHOD] PATH"
                out += ["```text", usage, "```", ""]
                # magic_arguments folds the argparse help into __doc__; the parser keeps the text.
                doc = inspect.cleandoc(parser.description or "")
            else:
                doc = inspect.getdoc(function) or ""
            out += [doc, ""]
            if parser is not None:
                out += _options_table(parser)
        return out


class SettingsReference(_Generated):
    """The ``%config ElfsquadMagic.<name>`` settings: type, default and help, from the traits."""

    def lines(self) -> list[str]:
        from elfsquad_magic.notebook.magics import ElfsquadMagic

        rows = []
        for name, trait in sorted(ElfsquadMagic.class_traits(config=True).items()):
            default = trait.default_value
            rows.append([_code(name), type(trait).__name__, _code(repr(default)), trait.help or ""])
        return _table(["setting", "type", "default", "meaning"], rows)


class ErrorsReference(_Generated):
    """The classes of ``elfsquad_magic.errors``: base and docstring."""

    def lines(self) -> list[str]:
        from elfsquad_magic import errors

        rows = []
        for name in errors.__all__:
            cls: Any = getattr(errors, name)
            if not inspect.isclass(cls):
                continue  # a helper of the module, not an error
            base = cls.__bases__[0].__name__
            doc = " ".join((inspect.getdoc(cls) or "").split())
            rows.append([_code(name), _code(base), doc])
        return _table(["class", "base", "meaning"], rows)


class SandboxOptionsReference(_Generated):
    """``python -m elfsquad_magic.sandbox`` options, from its parser."""

    def lines(self) -> list[str]:
        from elfsquad_magic.sandbox.__main__ import build_parser

        parser = build_parser()
        return ["```text", _usage(parser), "```", "", *_options_table(parser)]


ROOT = Path(__file__).resolve().parents[2]
BINDER_NOTEBOOK = "notebooks/01-getting-started.ipynb"


def repository_url(pyproject: Path = ROOT / "pyproject.toml") -> str | None:
    """The public repository named in ``[project.urls]`` (``Repository``), or ``None``."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    urls = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("urls", {})
    return next((url for name, url in urls.items() if name.lower() == "repository"), None)


def binder_url(repository: str, notebook: str = BINDER_NOTEBOOK) -> str | None:
    """The mybinder.org link that opens ``notebook`` of a GitHub ``repository``, or ``None``."""
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", repository)
    if match is None:
        return None
    owner, name = match.groups()
    return f"https://mybinder.org/v2/gh/{owner}/{name}/HEAD?urlpath=lab/tree/{notebook}"


def binder_lines(repository: str | None) -> list[str]:
    """The Binder badge for ``repository``, or what to do while there is none."""
    link = binder_url(repository) if repository else None
    if link is None:
        return [
            "The Binder badge appears here once `[project.urls]` in `pyproject.toml` names the",
            'public GitHub repository (`Repository = "https://github.com/<owner>/<name>"`):',
            "that one entry is where the badge and these docs take the address from.",
            "",
        ]
    return [f"[![Binder](https://mybinder.org/badge_logo.svg)]({link})", ""]


class BinderBadge(_Generated):
    """The Binder badge, from ``[project.urls]`` in ``pyproject.toml``."""

    def lines(self) -> list[str]:
        return binder_lines(repository_url())


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("elfsquad-binder", BinderBadge)
    app.add_directive("elfsquad-magics", MagicsReference)
    app.add_directive("elfsquad-settings", SettingsReference)
    app.add_directive("elfsquad-errors", ErrorsReference)
    app.add_directive("elfsquad-sandbox-options", SandboxOptionsReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
