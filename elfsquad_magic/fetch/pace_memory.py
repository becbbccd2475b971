"""What the pace learned of each API host and client, kept between sessions in the user cache.

A new kernel used to start every host's pace cold: 4 requests in flight, no known rate, so its
first fetch of the day took a quarter longer and met the 429s the previous session had already
learned to avoid. Like Linux's TCP metrics cache (which keeps a route's ssthresh and round
trip), :class:`PaceMemory` keeps one small JSON file per API host and client id (the
service's budget is per connection: two tenants on one host each have their own): the window,
the most reached, the rate the service allowed, the quickest answer and when that was learned.
A new session starts from it, trusting it less as it ages (:meth:`.PaceController.warm`).

The file holds numbers, the host's address and a hash of the client id only: never a token, a
secret or the client id itself.
It is read with suspicion: a file that cannot be parsed, was written for another host, is of
another format, or is older than :data:`MAX_AGE` is ignored without a word.
``ELFSQUAD_PACE_DIR`` puts the files elsewhere (the tests use a folder of their own).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .pace import PaceState

__all__ = [
    "ENV_PACE_DIR",
    "MAX_AGE",
    "PACE_FORMAT",
    "PaceMemory",
    "client_tag",
    "default_pace_dir",
    "host_of",
]

ENV_PACE_DIR = "ELFSQUAD_PACE_DIR"
PACE_FORMAT = 1
MAX_AGE = 7 * 86_400.0
"""Seconds after which what was learned of a host is forgotten."""
# A little clock difference between kernels is no reason to distrust a file.
_FUTURE_SLACK = 300.0
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def default_pace_dir() -> Path:
    """``$ELFSQUAD_PACE_DIR``, else ``pace`` in the user cache folder."""
    configured = os.environ.get(ENV_PACE_DIR, "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("elfsquad-magic") / "pace"


def host_of(api_url: str) -> str:
    """The host an API URL points to, as ``scheme://host:port`` (no path, no credentials)."""
    parts = urlsplit(api_url)
    scheme = parts.scheme or "https"
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def client_tag(client_id: str | None) -> str:
    """A short hash that tells client ids apart without naming them (``"any"`` for none)."""
    if not client_id:
        return "any"
    return hashlib.sha256(client_id.encode("utf-8")).hexdigest()[:16]


class PaceMemory:
    """One file per API host and client id in ``folder`` (``None``: :func:`default_pace_dir`,
    read at each use, so a changed environment counts)."""

    def __init__(
        self, folder: str | os.PathLike[str] | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.clock = clock

    def path(self, api_url: str, client_id: str | None = None) -> Path:
        """The file of the host of ``api_url`` for ``client_id``."""
        folder = self.folder if self.folder is not None else default_pace_dir()
        host = _UNSAFE.sub("_", host_of(api_url).split("://", 1)[1])
        return folder / f"{host}.{client_tag(client_id)}.json"

    def load(self, api_url: str, client_id: str | None = None) -> tuple[PaceState, float] | None:
        """What was learned of the host for ``client_id`` and how many seconds ago; ``None``
        when nothing trustworthy is kept (no file, unreadable, another host's or client's,
        another format, too old)."""
        try:
            data = json.loads(self.path(api_url, client_id).read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != PACE_FORMAT:
                return None
            if data.get("host") != host_of(api_url):
                return None
            if data.get("client") != client_tag(client_id):
                return None
            age = self.clock() - _number(data["saved_at"])
            if age > MAX_AGE or age < -_FUTURE_SLACK:
                return None
            state = PaceState(
                window=_number(data["window"], low=1.0),
                max_reached=int(_number(data["max_reached"], low=1.0)),
                rate=_optional(data.get("rate")),
                latency_floor=_optional(data.get("latency_floor")),
                throttled=int(_number(data.get("throttled", 0))),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return state, max(0.0, age)

    def save(self, api_url: str, state: PaceState, client_id: str | None = None) -> None:
        """Keep ``state`` for the host and client (written whole or not at all; a folder that
        cannot be written is no error: the next session starts cold)."""
        data: dict[str, Any] = {
            "format": PACE_FORMAT,
            "host": host_of(api_url),
            "client": client_tag(client_id),
            "saved_at": self.clock(),
            "window": round(state.window, 3),
            "max_reached": state.max_reached,
            "rate": None if state.rate is None else round(state.rate, 4),
            "latency_floor": None if state.latency_floor is None else round(state.latency_floor, 5),
            "throttled": state.throttled,
        }
        final = self.path(api_url, client_id)
        temporary = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
        try:
            final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(temporary, final)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)


def _number(value: Any, low: float = 0.0) -> float:
    """A finite number not below ``low``, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(value)
    number = float(value)
    if not math.isfinite(number) or number < low:
        raise ValueError(value)
    return number


def _optional(value: Any) -> float | None:
    return None if value is None else _number(value, low=1e-9)
