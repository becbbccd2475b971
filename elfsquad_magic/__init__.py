"""elfsquad-magic: query the Elfsquad APIs from Jupyter and get typed pandas DataFrames.

The public names: :class:`ElfsquadClient` (the Python client), :class:`ODataRequest` (a request
as a value) and the IPython extension hooks (``%load_ext elfsquad_magic``). The errors users see
are in :mod:`elfsquad_magic.errors`, the local stand-in server in :mod:`elfsquad_magic.sandbox`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .core.version import VERSION

if TYPE_CHECKING:
    from .client import ElfsquadClient
    from .core.request import ODataRequest

__version__ = VERSION

__all__ = ["ElfsquadClient", "ODataRequest", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext elfsquad_magic`: register the magics, their settings and tab completion."""
    from .notebook.magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext elfsquad_magic`: remove the magics, log out and stop the demo sandbox."""
    from .notebook.magics import unload

    unload(ipython)


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import elfsquad_magic` stays cheap (no pandas, no requests).
    if name == "ElfsquadClient":
        from .client import ElfsquadClient

        return ElfsquadClient
    if name == "ODataRequest":
        from .core.request import ODataRequest

        return ODataRequest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
