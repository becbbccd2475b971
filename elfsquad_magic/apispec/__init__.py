"""Compact copies of the Elfsquad API descriptions, shipped with the package.

Generated from the OpenAPI files by ``scripts/build_apispec.py``; read by the sandbox (to build its
tables, ``$metadata`` and swagger documents) and by completion (as an offline fallback).
"""

__all__: list[str] = []
