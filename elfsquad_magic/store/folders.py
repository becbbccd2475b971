"""The per-tenant folders of the mirror and the journal, readable by the user only.

Both keep one folder per API host and client id below a root (``<root>/<host>/<client id>``);
the names are made safe to be folder names, so no host or client id can name a path of its own.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["safe_part", "tenant_folder", "make_private_folders"]


def safe_part(text: str) -> str:
    """A folder or file name for a host, client id or set: readable, never a path of its own."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "_"
    return cleaned[:100]


def tenant_folder(root: str | os.PathLike[str], api_url: str, client_id: str) -> Path:
    """``<root>/<api host>/<client id>``."""
    parts = urlsplit(api_url)
    host = parts.netloc or parts.path
    return Path(root).expanduser() / safe_part(host) / safe_part(client_id)


def make_private_folders(root: Path, folder: Path) -> None:
    """Make a tenant ``folder`` and its host's folder (and the root, when it is new) with
    access for the user only (0700)."""
    if not root.exists():
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, stat.S_IRWXU)
    for path in (folder.parent, folder):  # the host's folder, then the client's
        path.mkdir(exist_ok=True)
        os.chmod(path, stat.S_IRWXU)
