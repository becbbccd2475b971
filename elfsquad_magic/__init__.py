"""elfsquad-magic: query the Elfsquad APIs from Jupyter and get typed pandas DataFrames."""

from __future__ import annotations

__version__ = "0.1.0"
