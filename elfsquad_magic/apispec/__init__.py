"""Compact copies of the Elfsquad API descriptions, shipped with the package.

Generated from the OpenAPI files by ``scripts/build_apispec.py`` (the Data API) and
``scripts/build_path_specs.py`` (the Quotation and Configurator APIs); read by the sandbox (its
tables, ``$metadata`` and swagger documents), by completion (as an offline fallback) and by
``%elfsquad_describe`` of an API.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["SHIPPED", "load"]

SHIPPED = {
    "data": "data_api.json",
    "quotation": "quotation_api.json",
    "configurator": "configurator_api.json",
}
"""The shipped description of each API, by the API's short name."""


@cache
def load(api: str) -> dict[str, Any]:
    """The shipped description of ``api`` (``data``, ``quotation``, ``configurator``)."""
    text = resources.files(__name__).joinpath(SHIPPED[api]).read_text(encoding="utf-8")
    return json.loads(text)
