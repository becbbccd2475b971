"""The ``requests`` sessions of this package: one per host, connect retries by urllib3, proxies
and CA bundles from the environment, never ``.netrc`` credentials."""

from __future__ import annotations

import logging
import os
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .auth import is_loopback_host
from .version import VERSION

__all__ = ["new_session", "origin"]

logger = logging.getLogger("elfsquad_magic")


class _QuietRetry(Retry):
    """The connect-retry policy of this package's pools; marks urllib3's log records as ours."""


class _OwnRetryWarnings(logging.Filter):
    """Turns urllib3's "Retrying (...) after connection broken" warnings for our pools into
    debug lines of the ``elfsquad_magic`` logger.

    The retries are expected and reported as one clear error if they fail; a warning would
    print into whichever notebook cell is running.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if any(isinstance(arg, _QuietRetry) for arg in args):
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("urllib3: %s", record.getMessage())
            return False
        return True


def _install_retry_filter() -> None:
    pool_logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _OwnRetryWarnings) for f in pool_logger.filters):
        pool_logger.addFilter(_OwnRetryWarnings())


_install_retry_filter()


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of ``url``: what must match for the token to be sent there."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def new_session(base_url: str) -> requests.Session:
    """A ``requests.Session`` for one host: connect retries, proxies and CA bundle from the
    environment, but never credentials from ``.netrc`` (they would replace the bearer token)."""
    session = requests.Session()
    # urllib3 retries only failed connects (the request never left, so any method is safe);
    # status and read retries are done in Transport.request, where the time budget lives.
    retry = _QuietRetry(
        total=2,
        connect=2,
        read=False,  # read errors surface as themselves (ReadTimeout), handled by the caller
        status=0,
        other=0,
        redirect=0,
        backoff_factor=0.2,
        respect_retry_after_header=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=16)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = f"elfsquad-magic/{VERSION}"
    session.trust_env = False
    if not is_loopback_host(urlsplit(base_url).hostname):
        # Analysts behind a company proxy: honour HTTPS_PROXY/NO_PROXY and a custom CA bundle.
        session.proxies.update(requests.utils.get_environ_proxies(base_url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
    return session
