"""The ``ELFSQUAD_*`` environment variables a script logs in with."""

from __future__ import annotations

import os
from typing import Any

from ..errors import LoginError
from .odata import ENV_SCIM_TOKEN

__all__ = ["ENV_CLIENT_ID", "ENV_CLIENT_SECRET", "login_options_from_env"]

ENV_CLIENT_ID = "ELFSQUAD_CLIENT_ID"
ENV_CLIENT_SECRET = "ELFSQUAD_CLIENT_SECRET"


def login_options_from_env(overrides: dict[str, Any]) -> dict[str, Any]:
    """Client id, secret, hosts, scope and SCIM token from ``ELFSQUAD_CLIENT_ID``/``_SECRET``/
    ``_LOGIN_URL``/``_API_URL``/``_SCOPE``/``_SCIM_TOKEN``, ``overrides`` winning; a
    :class:`LoginError` that says what to set when there is nothing to log in with."""
    env = {
        "client_id": os.environ.get(ENV_CLIENT_ID),
        "client_secret": os.environ.get(ENV_CLIENT_SECRET),
        "login_url": os.environ.get("ELFSQUAD_LOGIN_URL"),
        "api_url": os.environ.get("ELFSQUAD_API_URL"),
        "scope": os.environ.get("ELFSQUAD_SCOPE"),
        "scim_token": os.environ.get(ENV_SCIM_TOKEN),
    }
    options = {k: v for k, v in env.items() if v}
    options.update(overrides)
    has_login = options.get("client_id") and options.get("client_secret")
    if not has_login and not options.get("scim_token"):
        # A script has no %elfsquad_login to fall back on: say what to set, now.
        missing = [
            name
            for name, key in ((ENV_CLIENT_ID, "client_id"), (ENV_CLIENT_SECRET, "client_secret"))
            if not options.get(key)
        ]
        raise LoginError(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set.",
            "Set ELFSQUAD_CLIENT_ID and ELFSQUAD_CLIENT_SECRET in the environment (the "
            "OpenId client from Elfsquad's Integrations page), or pass client_id= and "
            "client_secret= to ElfsquadClient.from_env().",
        )
    return options
