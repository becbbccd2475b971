"""When a request is tried again: the retry policy of GETs and writes, backoff, ``Retry-After``."""

from __future__ import annotations

import email.utils
import random
import re
import time

import requests

__all__ = ["RETRY_STATUSES", "retry_wait", "retry_after"]

# Statuses worth another try for a GET: the request was not served, or served by a tired proxy.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


def retry_wait(
    method: str,
    outcome: int | BaseException,
    attempt: int,
    time_left: float,
    retry_after: float | None = None,
    *,
    idempotent: bool = False,
) -> float | None:
    """Seconds to wait before trying ``method`` again after ``outcome`` (an HTTP status, or the
    connection error of the ``attempt``-th try), or ``None``: report it now.

    A GET, and a write marked ``idempotent`` (a chunk of a bulk update), is retried on
    connection errors and 429/502/503/504. Another write is retried only when it cannot have
    reached the service: a connect time-out, or a 429 (refused connections are retried at once
    by the session's urllib3 ``Retry``). ``Retry-After`` decides the wait of a
    429 or 503; otherwise 0.5, 1, 2, 4, 8, 8... s with jitter. No retry whose wait would end
    after ``time_left`` (what remains of ``retry_seconds``).
    """
    repeatable = method == "GET" or idempotent
    if isinstance(outcome, BaseException):
        if not repeatable and not isinstance(outcome, requests.ConnectTimeout):
            return None
        wait = _backoff(attempt)
    else:
        if outcome not in RETRY_STATUSES or (not repeatable and outcome != 429):
            return None
        wait = retry_after if outcome in (429, 503) and retry_after is not None else None
        if wait is None:
            wait = _backoff(attempt)
    return wait if wait < time_left else None


def _backoff(attempt: int) -> float:
    # 0.5, 1, 2, 4, 8 s (capped), with jitter so parallel workers do not retry in step.
    return min(8.0, 0.5 * 2 ** (attempt - 1)) * (0.75 + random.random() / 2)


def retry_after(response: requests.Response) -> float | None:
    """The seconds ``Retry-After`` asks for (delay-seconds or an HTTP date), or ``None``."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    # delay-seconds (RFC 9110); a fraction is not standard but harmless to honour.
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())
