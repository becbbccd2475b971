"""The public names: what ``import elfsquad_magic`` offers, and what each module exports."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import elfsquad_magic

PACKAGE = Path(elfsquad_magic.__file__).parent


def _all_modules() -> list[str]:
    """Every module of the package, sandbox included, by its dotted name under the package."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


MODULES = [name for name in _all_modules() if name]


def test_the_package_exports_the_client_and_the_extension_hooks() -> None:
    assert sorted(elfsquad_magic.__all__) == [
        "ElfsquadClient",
        "ODataRequest",
        "load_ipython_extension",
        "unload_ipython_extension",
    ]
    for name in elfsquad_magic.__all__:
        assert getattr(elfsquad_magic, name) is not None


def test_the_public_names_are_where_users_import_them() -> None:
    """What the docs and notebooks import, from where they import it."""
    from elfsquad_magic import ElfsquadClient, ODataRequest
    from elfsquad_magic.client import ElfsquadClient as from_client
    from elfsquad_magic.errors import ElfsquadError, FetchInterrupted, UsageError
    from elfsquad_magic.sandbox import Sandbox

    assert ElfsquadClient is from_client
    assert ODataRequest.build("GET", "/data/1/features").entity_set == "features"
    assert issubclass(UsageError, ElfsquadError) and issubclass(FetchInterrupted, KeyboardInterrupt)
    assert callable(Sandbox)


def test_every_module_is_checked() -> None:
    """No module escapes the checks below: the list is read from the tree."""
    assert {"client", "errors", "fetch.engine", "store.sync", "notebook.magics"} <= set(MODULES)
    assert "sandbox.server" in MODULES and len(MODULES) > 40


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
