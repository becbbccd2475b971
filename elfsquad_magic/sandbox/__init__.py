"""A local Elfsquad stand-in: the token endpoint and the OData v4 Data API over loopback HTTP.

``with Sandbox() as sb:`` serves a deterministic synthetic tenant; ``python -m
elfsquad_magic.sandbox`` does the same from the command line.
"""

from __future__ import annotations

from .app import Sandbox
from .tenants import TenantSpec

__all__ = ["Sandbox", "TenantSpec"]
