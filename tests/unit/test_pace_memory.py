"""What the pace learned of a host, kept between sessions: saved, loaded, trusted less as it
ages, and ignored without a word when it cannot be trusted at all."""

from __future__ import annotations

import json
import os
import stat

import pytest

from elfsquad_magic.fetch.pace import START, WARM_HALF_LIFE, PaceController, PaceState
from elfsquad_magic.fetch.pace_memory import MAX_AGE, PaceMemory, host_of

API = "https://api.elfsquad.io"
LEARNED = PaceState(window=14.0, max_reached=16, rate=17.0, latency_floor=0.15, throttled=3)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_what_is_saved_is_loaded_with_its_age(tmp_path) -> None:
    clock = Clock()
    memory = PaceMemory(tmp_path, clock=clock)
    memory.save(API, LEARNED)
    clock.now += 120
    state, age = memory.load(API + "/data/1/")  # any URL of the host
    assert state == LEARNED and age == pytest.approx(120)
    assert memory.load("https://api.other.example") is None  # per host


def test_each_client_of_a_host_has_a_pace_of_its_own(tmp_path) -> None:
    """The service's budget is per connection: two tenants' clients on one host each learn
    their own pace."""
    memory = PaceMemory(tmp_path)
    memory.save(API, LEARNED, "acme-client")
    assert memory.load(API, "acme-client")[0] == LEARNED
    assert memory.load(API, "globex-client") is None
    assert memory.load(API) is None
    slower = PaceState(window=3.0, max_reached=4, rate=2.0, latency_floor=0.3, throttled=1)
    memory.save(API, slower, "globex-client")
    assert memory.load(API, "acme-client")[0] == LEARNED
    assert memory.load(API, "globex-client")[0] == slower
    # A file renamed to another client's name is not trusted either.
    memory.path(API, "acme-client").replace(memory.path(API, "initech-client"))
    assert memory.load(API, "initech-client") is None


def test_the_file_is_private_and_holds_no_secret(tmp_path) -> None:
    memory = PaceMemory(tmp_path)
    memory.save("https://user:hunter2@api.elfsquad.io/", LEARNED, "acme-client-id")
    [path] = list(tmp_path.iterdir())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert "hunter2" not in text and "user" not in text
    assert "acme-client-id" not in text and "acme-client-id" not in path.name
    assert set(json.loads(text)) == {
        "format",
        "host",
        "client",
        "saved_at",
        "window",
        "max_reached",
        "rate",
        "latency_floor",
        "throttled",
    }


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\x00\xff\xfe",
        b"[]",
        b'{"format": 1}',
        b'{"format": 99, "host": "https://api.elfsquad.io:443"}',
        b'{"format": 1, "host": "https://api.elfsquad.io:443", "saved_at": 1000000, '
        b'"window": "many", "max_reached": 4}',
        b'{"format": 1, "host": "https://api.elfsquad.io:443", "saved_at": 1000000, '
        b'"window": NaN, "max_reached": 4}',
        b'{"format": 1, "host": "https://api.elfsquad.io:443", "saved_at": 1000000, '
        b'"window": 8, "max_reached": 8, "rate": -3}',
    ],
)
def test_a_corrupt_file_is_ignored_without_error(tmp_path, content: bytes) -> None:
    memory = PaceMemory(tmp_path, clock=Clock())
    memory.path(API).write_bytes(content)
    assert memory.load(API) is None


def test_another_hosts_file_is_ignored(tmp_path) -> None:
    memory = PaceMemory(tmp_path, clock=Clock())
    memory.save("https://api.other.example", LEARNED)
    # copied (or renamed) into the place of this host's file
    memory.path("https://api.other.example").rename(memory.path(API))
    assert memory.load(API) is None


def test_a_file_too_old_or_from_the_future_is_ignored(tmp_path) -> None:
    clock = Clock()
    memory = PaceMemory(tmp_path, clock=clock)
    memory.save(API, LEARNED)
    clock.now += MAX_AGE + 1
    assert memory.load(API) is None
    clock.now -= MAX_AGE + 1 + 3600  # saved an hour "from now": a broken clock
    assert memory.load(API) is None


def test_an_unwritable_folder_is_no_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    PaceMemory(blocker / "pace").save(API, LEARNED)  # a file where the folder should be
    assert PaceMemory(blocker / "pace").load(API) is None


def test_host_is_scheme_host_and_port_only() -> None:
    assert host_of("https://API.elfsquad.io/data/1/?x=1") == "https://api.elfsquad.io:443"
    assert host_of("http://127.0.0.1:8765") == "http://127.0.0.1:8765"


def test_a_new_pace_starts_where_the_last_left_off_and_trusts_it_less_as_it_ages() -> None:
    fresh = PaceController(clock=Clock())
    fresh.warm(LEARNED, age=0)
    assert fresh.limit == 14 and fresh.rate == pytest.approx(17.0)
    day_old = PaceController(clock=Clock())
    day_old.warm(LEARNED, age=WARM_HALF_LIFE)
    assert day_old.limit == int(START + (14 - START) / 2)  # half the way from the start
    assert 17.0 < day_old.rate < 17.0 / 0.85  # raised towards the rate once observed
    cold = PaceController(clock=Clock())
    cold.warm(LEARNED, age=20 * WARM_HALF_LIFE)
    assert cold.limit == START
    fixed = PaceController(fixed=2)
    fixed.warm(LEARNED, age=0)
    assert fixed.limit == 2 and fixed.rate is None


def test_the_learned_rate_is_the_one_set_at_the_last_429() -> None:
    clock = Clock(0.0)
    pace = PaceController(clock=clock, cpu_clock=lambda: 0.0)
    for _ in range(40):
        clock.now += 0.05
        pace.observe(200, 0.05)  # 20 answers a second
    pace.observe(429, 0.05)
    learned = pace.rate
    assert learned is not None and learned < 20
    for _ in range(int(learned * 30)):  # 30 s of answers at the learned rate
        clock.now += 1 / learned
        pace.observe(200, 0.05)
    assert pace.rate > learned  # it grows again in the session...
    assert pace.state().rate == learned  # ...but the next session starts at the safe one
