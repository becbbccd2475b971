"""The retry decision, row by row as the docs' "What is retried" table states it."""

from __future__ import annotations

import pytest
import requests

from elfsquad_magic.core.http_sessions import new_session
from elfsquad_magic.core.retry import retry_wait

WRITES = ("POST", "PATCH", "PUT", "DELETE")
BUDGET = 60.0

refused = requests.ConnectionError("[Errno 111] Connection refused")
connect_timeout = requests.ConnectTimeout("no connection within the timeout")
dropped = requests.exceptions.ChunkedEncodingError("connection cut in the middle of the answer")
read_timeout = requests.ReadTimeout("no answer within timeout")

# (what happened, outcome, retried for GET, retried for writes)
TABLE = [
    ("connection refused", refused, True, False),  # writes: urllib3 retries the connect
    ("no connection within the timeout", connect_timeout, True, True),
    ("connection dropped, or cut in the middle of the answer", dropped, True, False),
    ("no answer within timeout", read_timeout, True, False),
    ("429 Too Many Requests", 429, True, True),
    ("502", 502, True, False),
    ("503", 503, True, False),
    ("504", 504, True, False),
    ("any other status: 400", 400, False, False),
    ("any other status: 404", 404, False, False),
    ("any other status: 500", 500, False, False),
    ("401 is renewal, not a retry", 401, False, False),
]


@pytest.mark.parametrize(("row", "outcome", "for_get", "for_writes"), TABLE)
def test_what_is_retried(row: str, outcome: object, for_get: bool, for_writes: bool) -> None:
    assert (retry_wait("GET", outcome, 1, BUDGET) is not None) is for_get, row
    for method in WRITES:
        assert (retry_wait(method, outcome, 1, BUDGET) is not None) is for_writes, (row, method)


@pytest.mark.parametrize(("row", "outcome", "for_get", "for_writes"), TABLE)
def test_a_chunk_of_an_idempotent_bulk_action_is_retried_as_a_get(
    row: str, outcome: object, for_get: bool, for_writes: bool
) -> None:
    """The table's last sentence: BulkUpdate and BulkUpsert chunks follow the GET column."""
    assert (retry_wait("POST", outcome, 1, BUDGET, idempotent=True) is not None) is for_get, row


def test_refused_connections_are_retried_by_the_session_for_every_method() -> None:
    retry = new_session("https://api.elfsquad.io").get_adapter("https://x").max_retries
    assert retry.connect == 2 and retry.read is False and retry.status == 0


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_decides_the_wait(status: int) -> None:
    assert retry_wait("GET", status, 1, BUDGET, retry_after=7.0) == 7.0


def test_without_retry_after_the_wait_doubles_with_jitter() -> None:
    for attempt, nominal in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)]:
        wait = retry_wait("GET", 502, attempt, BUDGET)
        assert wait is not None and 0.75 * nominal <= wait <= 1.25 * nominal


def test_no_retry_whose_wait_ends_after_the_budget() -> None:
    assert retry_wait("GET", 429, 1, 10.0, retry_after=120.0) is None
    assert retry_wait("GET", 503, 1, 0.1) is None
    assert retry_wait("GET", dropped, 1, 0.0) is None
