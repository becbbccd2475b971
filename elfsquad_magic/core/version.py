"""The package's version, in one place (``pyproject.toml`` reads it from here)."""

from __future__ import annotations

__all__ = ["VERSION"]

VERSION = "0.1.0"
"""This release of elfsquad-magic (also ``elfsquad_magic.__version__``)."""
