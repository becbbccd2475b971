"""The public names: what ``import elfsquad_magic`` offers, and what each module exports."""

from __future__ import annotations

import importlib
import inspect

import pytest

import elfsquad_magic

MODULES = [
    "odata",
    "request",
    "cell",
    "literals",
    "errors",
    "transport",
    "pages",
    "paging",
    "windows",
    "frames",
    "progress",
    "pace",
    "folders",
    "mirror",
    "sync",
    "sql",
    "writes",
    "journal",
    "journaled",
    "undo",
    "client",
    "completion",
]


def test_the_package_exports_the_client_and_the_extension_hooks() -> None:
    assert sorted(elfsquad_magic.__all__) == [
        "ElfsquadClient",
        "load_ipython_extension",
        "unload_ipython_extension",
    ]
    for name in elfsquad_magic.__all__:
        assert getattr(elfsquad_magic, name) is not None


@pytest.mark.parametrize("name", MODULES)
def test_every_exported_name_exists_and_has_a_docstring(name: str) -> None:
    module = importlib.import_module(f"elfsquad_magic.{name}")
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} declares no __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == []
    undocumented = [
        n
        for n in exported
        if (inspect.isfunction(getattr(module, n)) or inspect.isclass(getattr(module, n)))
        and not inspect.getdoc(getattr(module, n))
    ]
    assert undocumented == []


def test_the_client_offers_the_documented_methods() -> None:
    client = elfsquad_magic.ElfsquadClient
    public = {n for n in dir(client) if not n.startswith("_")}
    assert {
        "get",
        "post",
        "patch",
        "put",
        "delete",
        "request",
        "send",
        "schema",
        "login",
        "logout",
        "status",
        "from_env",
        "close",
    } <= public


def test_every_error_is_an_elfsquad_error_with_a_docstring() -> None:
    from elfsquad_magic import errors

    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)]
    for cls in classes:
        if cls.__module__ != errors.__name__:
            continue
        assert inspect.getdoc(cls), cls
        # FetchInterrupted is a KeyboardInterrupt, so that a stopped cell stops "Run All".
        assert issubclass(cls, (errors.ElfsquadError, Warning, KeyboardInterrupt)), cls
