"""Seeded large tenants kept between sandbox starts, so scale 200 is generated once.

Generating a million quotation lines takes minutes of Python; copying the SQLite file that
held them takes seconds. A tenant above :data:`.tenants.MEMORY_MAX_SCALE` is therefore saved,
once seeded, as ``tenant-<scale>-<seed>-<fingerprint>.db`` in the user cache (``sandbox`` in
the elfsquad-magic cache folder; ``ELFSQUAD_SANDBOX_CACHE`` names another folder, or ``off``).
The fingerprint hashes the sandbox's seed code and the API description, so a change to either
makes a new file instead of reusing a stale one. The file holds synthetic data only: no
secret or token (those belong to the tenant spec, never to the store).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

__all__ = [
    "ENV_SEED_CACHE",
    "cached_seed",
    "copy_seed",
    "keep_seed",
    "seed_cache_dir",
    "seed_fingerprint",
]

ENV_SEED_CACHE = "ELFSQUAD_SANDBOX_CACHE"
_HERE = Path(__file__).resolve().parent
# What decides a seeded tenant's rows and tables.
_SOURCES = ("seed*.py", "store.py", "values.py", "metadata.py", "../apispec/data_api.json")
# A half copy not written to for this long was left by a sandbox killed while keeping its seed
# (a copy under way writes every second or so).
_ABANDONED_S = 600


def seed_cache_dir() -> Path | None:
    """``$ELFSQUAD_SANDBOX_CACHE``, else ``sandbox`` in the user cache; ``None`` when off."""
    configured = os.environ.get(ENV_SEED_CACHE, "").strip()
    if configured.lower() in ("off", "0", "no", "false"):
        return None
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("elfsquad-magic") / "sandbox"


@lru_cache(maxsize=1)
def seed_fingerprint() -> str:
    """A short hash of the code and description that make a seeded tenant."""
    digest = hashlib.sha256()
    for pattern in _SOURCES:
        for path in sorted(_HERE.glob(pattern)):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _file_name(scale: int, seed: int) -> str:
    return f"tenant-{scale}-{seed}-{seed_fingerprint()}.db"


def cached_seed(scale: int, seed: int) -> Path | None:
    """The kept database of (scale, seed) made by this code, or ``None``."""
    folder = seed_cache_dir()
    if folder is None:
        return None
    path = folder / _file_name(scale, seed)
    return path if path.is_file() else None


def keep_seed(save: Callable[[str], None], scale: int, seed: int) -> Path | None:
    """Keep a freshly seeded database: ``save(path)`` writes it to ``path``. Written beside
    and renamed, so a reader never sees half a file; a full disk or a read-only cache only
    means the next start seeds again (``None``). The copies of (scale, seed) made by other
    code go once this one is kept (4 GB each at scale 200), and so do half copies a killed
    sandbox left."""
    folder = seed_cache_dir()
    if folder is None:
        return None
    final = folder / _file_name(scale, seed)
    partial: str | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(folder)
        handle, partial = tempfile.mkstemp(prefix=".partial-", suffix=".db", dir=folder)
        os.close(handle)
        save(partial)
        os.replace(partial, final)
        partial = None
        for stale in folder.glob(f"tenant-{scale}-{seed}-*.db"):
            if stale.name != final.name:
                with contextlib.suppress(OSError):  # in use elsewhere: the next keep tries
                    stale.unlink()
    except (OSError, sqlite3.Error):  # a full disk reaches SQLite's backup as its own error
        return None
    finally:
        if partial is not None:
            with contextlib.suppress(OSError):
                os.unlink(partial)
    return final


def _remove_abandoned(folder: Path) -> None:
    """Remove the half copies no sandbox has written to for :data:`_ABANDONED_S`."""
    for left in folder.glob(".partial-*.db"):
        with contextlib.suppress(OSError):  # gone already, or not ours to remove
            if time.time() - left.stat().st_mtime > _ABANDONED_S:
                left.unlink()


def copy_seed(source: Path, target: str) -> bool:
    """Copy a kept database to ``target``; False when it cannot be read, and ``target`` is
    left empty (the tenant is seeded again, never from half a copy)."""
    try:
        shutil.copyfile(source, target)
    except OSError:
        with contextlib.suppress(OSError), open(target, "wb"):
            pass
        return False
    return True
