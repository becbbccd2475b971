"""JSON bytes -> Python values, in one place: orjson for speed, the standard parser for what
orjson refuses."""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["decode_json"]


def decode_json(content: bytes) -> Any:
    """Parse JSON bytes; orjson for speed, the standard parser for what orjson refuses."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)  # e.g. integers beyond 64 bits
