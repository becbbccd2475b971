"""The pace controller's decisions: outcomes and latencies in, windows and rates out."""

from __future__ import annotations

import math

import pytest
import requests

from elfsquad_magic.core.rate_limit import rate_hint
from elfsquad_magic.fetch.pace import CEILING, START, PaceController


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def busy(pace: PaceController) -> None:
    """Fill the window, so that it is what limits the fetch."""
    while pace.in_flight < pace.limit:
        pace.acquire()


def answer(pace: PaceController, clock: Clock, latency: float, status: int = 200) -> None:
    """One page answered after ``latency`` with the window full (answers come ``limit`` per
    round trip)."""
    busy(pace)
    clock.now += latency / max(pace.limit, 1)
    pace.observe(status, latency)


def test_it_starts_at_four_and_grows_to_the_ceiling_while_latency_stays_flat() -> None:
    clock = Clock()
    pace = PaceController(clock=clock, cpu_clock=lambda: 0.0)
    assert pace.limit == START
    for _ in range(12):
        answer(pace, clock, 0.150)
    assert pace.limit == CEILING  # slow start: one more per answer
    for _ in range(200):
        answer(pace, clock, 0.150)
    assert pace.limit == CEILING and pace.max_reached == CEILING


def test_it_does_not_grow_when_the_window_is_not_what_limits() -> None:
    clock = Clock()
    pace = PaceController(clock=clock, cpu_clock=lambda: 0.0)
    for _ in range(50):
        clock.now += 0.01
        pace.observe(200, 0.02)  # nothing in flight: the fetch is limited elsewhere
    assert pace.limit == START


def run(pace: PaceController, clock: Clock, latency_at, answers: int) -> list[int]:
    """``answers`` pages from a service whose latency is ``latency_at(window)``; the windows."""
    limits = []
    for _ in range(answers):
        answer(pace, clock, latency_at(pace.limit))
        limits.append(pace.limit)
    return limits


def test_queueing_at_the_service_shrinks_the_window_and_it_settles_near_capacity() -> None:
    """A service that serves 6 at a time: latency grows with every request beyond 6, the
    answers a second stay the same. Slow start overshoots; the samples bring it back."""
    clock = Clock()
    pace = PaceController(clock=clock, cpu_clock=lambda: 0.0)
    limits = run(pace, clock, lambda window: 0.100 * max(1.0, window / 6), 600)
    assert max(limits) >= 8  # it went past capacity...
    settled = limits[-200:]
    assert min(settled) >= 6 and max(settled) <= 11, sorted(set(settled))  # ...and came back


def test_a_service_that_slows_down_under_load_keeps_a_small_window() -> None:
    """More in flight makes every answer so much slower that fewer come a second."""
    clock = Clock()
    pace = PaceController(clock=clock, cpu_clock=lambda: 0.0)
    limits = run(pace, clock, lambda window: 0.030 * max(1.0, (window / 4) ** 1.5), 600)
    assert max(limits[-300:]) <= 9, sorted(set(limits[-300:]))


def test_a_client_that_shares_its_cores_grows_while_answers_a_second_still_rise() -> None:
    """Latency doubles from 4 to 8 in flight (the client's own CPU), yet throughput rises by a
    third and then levels off: it goes past 8 and keeps within 5 % of the most there is."""

    def throughput(window: int) -> float:
        return 120 * (1 - math.exp(-window / 4))

    clock = Clock()
    pace = PaceController(clock=clock, cpu_clock=lambda: 0.0)
    limits = run(pace, clock, lambda window: window / throughput(window), 600)
    settled = limits[-300:]
    assert min(settled) >= 9, sorted(set(settled))
    assert min(map(throughput, settled)) >= 0.95 * throughput(CEILING)


def test_one_poor_sample_at_a_larger_window_does_not_hold_it_down() -> None:
    """A larger window that once did no better is tried again after a few samples."""
    clock = Clock()
    pace = PaceController(clock=clock, start=6, cpu_clock=lambda: 0.0)
    pace.resume({10: 1.0})  # one sample at 10 that went badly
    limits = run(pace, clock, lambda window: 0.150, 200)  # a service that is never busy
    assert limits[-1] == CEILING


def test_a_429_halves_the_window_once_per_round_trip_and_learns_the_rate() -> None:
    clock = Clock()
    pace = PaceController(clock=clock, cpu_clock=lambda: 0.0)
    for _ in range(40):
        answer(pace, clock, 0.030)  # 16 in flight, ~500 answers a second...
    assert pace.limit == CEILING
    for _ in range(10):  # ...then every answer in flight says 429 at once
        pace.observe(429, 0.030)
    assert pace.limit == CEILING // 2  # one decrease, not ten
    assert pace.throttled == 10
    assert pace.rate is not None and pace.interval > 0
    learned = pace.rate
    answers_at(pace, clock, learned, seconds=10.0)  # 10 s of answers at the learned rate
    assert learned < pace.rate < learned * 1.3  # grows back slowly (2 % a second)


def answers_at(pace: PaceController, clock: Clock, rate: float, seconds: float) -> None:
    """``seconds`` of answers at ``rate`` a second."""
    end = clock.now + seconds
    while clock.now < end:
        clock.now += 1 / rate
        pace.observe(200, 0.030)


def test_the_rate_grows_back_only_while_the_answers_use_it() -> None:
    """Answers well under the learned rate (the client is the slow side) are no sign that the
    service would allow more: the rate waits (as TCP's window does, RFC 7661)."""
    clock = Clock()
    pace = PaceController(clock=clock, cpu_clock=lambda: 0.0)
    for _ in range(40):
        answer(pace, clock, 0.030)
    pace.observe(429, 0.030)
    learned = pace.rate
    assert learned is not None
    answers_at(pace, clock, learned / 4, seconds=30.0)
    assert pace.rate == learned
    clock.now += 60.0  # idle
    pace.observe(200, 0.030)
    assert pace.rate == learned
    answers_at(pace, clock, learned, seconds=10.0)
    assert learned * 1.1 < pace.rate < learned * 1.3


def test_a_503_or_a_time_out_shrinks_but_teaches_no_rate() -> None:
    clock = Clock()
    pace = PaceController(clock=clock, cpu_clock=lambda: 0.0)
    pace.observe(503, 0.1)
    assert pace.limit == START // 2 and pace.rate is None
    clock.now += 1
    pace.observe(requests.ReadTimeout("slow"), 30.0)
    assert pace.limit == 1 and pace.rate is None and pace.throttled == 0


def test_the_floor_and_the_ceiling_hold() -> None:
    clock = Clock()
    pace = PaceController(clock=clock, ceiling=6, cpu_clock=lambda: 0.0)
    for _ in range(100):
        answer(pace, clock, 0.05)
    assert pace.limit == 6
    for _ in range(20):
        clock.now += 1
        pace.observe(429, 0.05)
    assert pace.limit == 1


def test_a_fixed_concurrency_never_adapts() -> None:
    clock = Clock()
    pace = PaceController(fixed=8, clock=clock)
    for status in (200, 429, 503, 200):
        clock.now += 1
        pace.observe(status, 0.5)
    report = pace.report()
    assert (report.adaptive, report.concurrency, report.rate_per_second) == (False, 8, None)
    assert "fixed" in str(report)


def test_an_announced_rate_caps_the_pace() -> None:
    pace = PaceController()
    pace.cap_rate(10.0)
    assert pace.interval == 0.1


def test_rate_limit_headers() -> None:
    assert rate_hint({"RateLimit-Remaining": "0", "RateLimit-Reset": "3"}) == (3.0, None)
    assert (
        rate_hint({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1000000010"}, now=1e9)[0]
        == 10.0
    )
    assert rate_hint({"RateLimit-Policy": "100;w=60"}) == (None, 100 / 60)
    assert rate_hint({"RateLimit-Remaining": "5", "RateLimit-Reset": "3"}) == (None, None)
    assert rate_hint({}) == (None, None)


def test_it_grows_while_throughput_rises_even_as_latency_climbs() -> None:
    """A busy but not saturated service: each request is slower, yet more answers come."""
    clock = Clock()
    pace = PaceController(clock=clock, cpu_clock=lambda: 0.0)
    for _ in range(400):
        latency = 0.020 * (1 + pace.limit / 16)  # 21 ms at 1 in flight, 40 ms at 16
        answer(pace, clock, latency)
    assert pace.limit >= 14, pace.limit


def test_a_larger_window_that_did_better_wins_over_a_latency_climb() -> None:
    """Each answer takes three times the floor (the service looks queued), but a larger window
    is known to have brought more answers a second: grow, do not shrink."""
    clock = Clock()
    pace = PaceController(clock=clock, start=8, cpu_clock=lambda: 0.0)
    pace.resume()
    pace.observe(200, 0.020)  # the floor, seen once
    pace.resume({12: 1000.0})  # far more than 8 in flight at 60 ms give
    for _ in range(20):  # one sample at 8
        answer(pace, clock, 0.060)
    assert pace.limit > 8


def test_a_latency_climb_while_the_client_is_busy_is_not_taken_for_queueing() -> None:
    """The same latencies as a service of capacity 6, but the client's own CPU is busy all the
    time (it shares its cores with the service, or parses as fast as it can): the climb is the
    client's, so the window is not shrunk for it; with an idle client it is."""

    def capacity_six(window: int) -> float:
        return 0.100 * max(1.0, window / 6)

    idle_clock = Clock()
    idle = PaceController(clock=idle_clock, cpu_clock=lambda: 0.0)
    assert max(run(idle, idle_clock, capacity_six, 600)[-200:]) <= 11
    busy_clock = Clock()
    busy = PaceController(clock=busy_clock, cpu_clock=lambda: busy_clock.now)  # one core
    assert min(run(busy, busy_clock, capacity_six, 600)[-200:]) >= 13


def test_between_two_429s_the_rate_is_what_came_in_between() -> None:
    """A 429 a while after the previous one measures the answers since then: a token bucket
    is empty after a 429, so they are its refill rate, not its first burst."""
    clock = Clock()
    pace = PaceController(clock=clock, cpu_clock=lambda: 0.0)
    for _ in range(80):  # a full bucket and its refill: 80 answers in the first second
        clock.now += 1 / 80
        pace.observe(200, 0.01)
    pace.observe(429, 0.01)
    first = pace.rate
    assert first is not None and first > 60  # the burst is all it saw
    for _ in range(24):  # then 30 answers a second for 0.8 s: what the bucket refills
        clock.now += 1 / 30
        pace.observe(200, 0.01)
    pace.observe(429, 0.01)
    # (The second before it still holds some of the burst: 40 answers, which would teach 34.)
    assert pace.rate == pytest.approx(30 * 0.85, rel=0.05)
