"""elfsquad-magic: query the Elfsquad APIs from Jupyter and get typed pandas DataFrames."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .client import ElfsquadClient

__all__ = ["ElfsquadClient", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext elfsquad_magic`: register the magics, their settings and tab completion."""
    from .magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext elfsquad_magic`: remove the magics, log out and stop the demo sandbox."""
    from .magics import unload

    unload(ipython)


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import elfsquad_magic` stays cheap (no pandas, no requests).
    if name == "ElfsquadClient":
        from .client import ElfsquadClient

        return ElfsquadClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
