"""The magic lines' arguments: parsing with IPython's ``magic_arguments``, errors for people,
and the one place that says which options go together.
"""

from __future__ import annotations

import argparse
import keyword
from argparse import Namespace
from typing import Any

from IPython.core.error import UsageError as IPythonUsageError
from IPython.core.magic_arguments import argument

from ..errors import UsageError
from .cell import split_magic_line
from .output import is_file_target

__all__ = [
    "check_combinations",
    "check_out_name",
    "connection_argument",
    "option_names",
    "parse_line",
    "parse_request_line",
    "positive_int",
    "usage_hint",
    "value_options",
]


connection_argument = argument(
    "-c",
    "--connection",
    metavar="NAME",
    help="The named connection to use (default: the current one; %%elfsquad_connections lists "
    "them).",
)
"""The option every magic that talks to a tenant takes."""


def value_options(parser: argparse.ArgumentParser) -> frozenset[str]:
    """The option strings of ``parser`` that take a value (``-o``, ``--limit``...)."""
    return frozenset(
        name for action in parser._actions if action.nargs != 0 for name in action.option_strings
    )


def option_names(parser: argparse.ArgumentParser) -> tuple[str, ...]:
    """The long option strings of ``parser`` (``--limit``...), in the order they are declared."""
    names = [n for action in parser._actions for n in action.option_strings if n.startswith("--")]
    return tuple(name for name in names if name != "--help")


def positive_int(text: str) -> int:
    """An argparse type: a whole number of 1 or more."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


positive_int.__name__ = "positive integer"  # argparse names the type in its error message


def usage_hint(magic: Any) -> str:
    """The one-line usage of a magic, as a hint under its errors."""
    name = magic.__name__
    # IPython formats usage as reStructuredText ("::" and an indent); a hint wants one line.
    usage = " ".join(magic.parser.format_usage().replace("::", " ").split())
    return f"{usage}  (details: %{name}?)"


def parse_line(magic: Any, line: str) -> Namespace:
    """The arguments of ``magic``'s line, or a :class:`UsageError` that names the problem
    (never the value of an unknown option: it may be a secret typed by mistake)."""
    try:
        return magic.parser.parse_argstring(line)
    except ValueError as exc:  # shlex: an unbalanced quote
        raise UsageError(f"{exc}.", usage_hint(magic)) from None
    except IPythonUsageError as exc:
        message = str(exc)
        if message.startswith("unrecognized arguments:"):
            words = message.split(":", 1)[1].split()
            options = [w.split("=", 1)[0] for w in words if w.startswith("-")]
            message = f"unknown option {' '.join(options)}" if options else "unexpected text"
            if any("secret" in option for option in options):
                raise UsageError(
                    "There is no option for the client secret: the magic line is saved in "
                    "the notebook and the history.",
                    "Type it into the login form, or set ELFSQUAD_CLIENT_SECRET.",
                ) from None
        raise UsageError(f"{message}.", usage_hint(magic)) from None


def parse_request_line(magic: Any, line: str) -> tuple[Namespace, str]:
    """The leading option tokens of a request magic's line parsed, and the raw rest of the
    line (METHOD PATH...), quotes intact."""
    parser = magic.parser
    split = split_magic_line(line, value_options(parser))
    try:
        args = parser.parse_args(list(split.options))
    except IPythonUsageError as exc:
        raise UsageError(f"%elfsquad: {exc}", usage_hint(magic)) from None
    return args, line[split.request_start :]


def check_out_name(name: str | None, example: str, *, files: bool = False) -> None:
    """Refuse an ``-o NAME`` that is not a Python variable name (or, with ``files``, a file
    name such as ``offer.pdf``)."""
    if name is not None and files and is_file_target(name):
        return
    if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
        raise UsageError(
            f"-o/--out needs a Python variable name, not {name!r}.",
            f"For example: {example}",
        )


# Options that only make sense together with another one: option -> the one it needs.
_NEEDS = {"full": "sync", "offline": "sync"}
# Options that exclude each other, with what to say.
_EXCLUSIVE = (
    ("dry_run", "preview", "Use one of them."),
    ("full", "offline", "--full reads the service; --offline does not. Use one of them."),
    ("raw", "output", "--raw returns the JSON as it came; --output is for tables."),
)
# What --sync cannot take: it returns the whole set as a DataFrame.
_NOT_WITH_SYNC = ("limit", "no_paginate", "raw", "json", "file", "dry_run", "preview")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_combinations(args: Namespace) -> None:
    """Refuse options that do not go together on a ``%%elfsquad`` line, in one place."""
    given = {name for name, value in vars(args).items() if value not in (None, False)}
    for name, needed in _NEEDS.items():
        if name in given and needed not in given:
            raise UsageError(
                "--full and --offline go with --sync.",
                "For example: %elfsquad --sync --offline GET /data/1/QuotationLines",
            )
    if "sync" in given:
        clashing = [_flag(name) for name in _NOT_WITH_SYNC if name in given]
        if clashing:
            raise UsageError(
                f"--sync returns the whole set as a DataFrame, so it takes no "
                f"{', '.join(clashing)}.",
                "Use them without --sync.",
            )
    for first, second, hint in _EXCLUSIVE:
        if first in given and second in given:
            raise UsageError(f"{_flag(first)} and {_flag(second)} cannot be combined.", hint)
